"""What every experiment shares: the paper's numbers, its gradient correction, and the run context."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.davis import DavisDataset
from ..inference.correction import GCConfig
from ..model.stm import STM
from .runs import RunScore, Setting, run_setting

__all__ = ["PAPER", "PAPER_GC", "ExperimentContext"]

#: DAVIS 2017 val numbers of the paper (percent): (J, F, J&F) or (baseline, cyclic) J&F.
PAPER = {
    "table3": {"baseline": (67.6, 71.7, 69.7), "+cyclic": (68.7, 74.7, 71.7), "+GC": (67.8, 72.8, 70.3),
               "both": (69.3, 75.3, 72.3)},
    "table4": {"first": (65.2, 67.6), "previous": (56.8, 61.2), "first+previous": (67.3, 69.2), "mem": (69.7, 71.7)},
    "table5": {"baseline predict": (65.9, 72.2, 69.1), "baseline predict + GC": (66.9, 73.3, 70.1),
               "bounding box": (63.0, 66.0, 64.5), "bounding box + GC": (68.7, 74.9, 71.8)},
    "fps": {"offline": 38.0, "gc": 9.3},
}

#: the paper's gradient correction: N = 10 steps every K = 5 frames, rate 180 (the authors' code)
PAPER_GC = GCConfig(iters=10, rate=180.0, every=5)


@dataclass
class ExperimentContext:
    """What every experiment needs."""

    dataset: DavisDataset
    names: list[str]
    baseline: STM
    cyclic: STM
    out: Path
    quick: bool = False
    progress: bool = True
    #: what experiments run on the same context share (e.g. the video of Figures 1 and 6)
    cache: dict[str, Any] = field(default_factory=dict)

    def run(self, setting: Setting) -> RunScore:
        return run_setting(setting, self.dataset, self.names, progress=self.progress)
