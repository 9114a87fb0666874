"""Running one inference setting over a split and scoring it in memory (J, F, J&F, FPS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.davis import DavisDataset
from ..data.video import VideoSequence
from ..evaluation.davis import DavisResults, score_sequence
from ..inference.correction import GCConfig
from ..inference.predictor import VideoPredictor, onehot
from ..inference.runner import segment_sequence
from ..model.stm import STM

__all__ = ["Setting", "RunScore", "run_setting", "bounding_box_masks", "model_masks"]


@dataclass
class Setting:
    """One row of an experiment: a model and how it is run."""

    name: str
    model: STM
    memory: str = "mem"
    gc: GCConfig = field(default_factory=GCConfig)
    #: ``f(sequence) -> memory_masks callable`` (see :class:`VideoPredictor`), or None
    memory_masks: Callable[[VideoSequence], Callable] | None = None


@dataclass
class RunScore:
    """Scores of one setting: J, F, J&F means (fractions), FPS of the model, per-sequence scores."""

    name: str
    J: float
    F: float
    JF: float
    fps: float
    results: DavisResults

    def row(self) -> dict:
        return {"setting": self.name, "J": self.J, "F": self.F, "J&F": self.JF, "FPS": self.fps}


def run_setting(setting: Setting, dataset: DavisDataset, names: list[str], *, progress: bool = True) -> RunScore:
    """Segment ``names`` with ``setting`` (in memory) and score them with the DAVIS protocol."""
    frames = 0
    seconds = 0.0
    scores = []
    for n in tqdm(names, desc=setting.name, unit="video", leave=False, disable=not progress):
        seq = dataset[n]
        masks = setting.memory_masks(seq) if setting.memory_masks is not None else None
        predictor = VideoPredictor(setting.model, memory=setting.memory, gc=setting.gc, memory_masks=masks)
        stats, labels = segment_sequence(predictor, seq, None, keep=True)
        frames += stats.frames
        seconds += stats.seconds
        gt = [seq.read_annotation(i) for i in range(len(seq))]
        scores.append(score_sequence(gt, labels, n, seq.frame_names))
    res = DavisResults(dataset.split, scores)
    g = res.global_scores()
    return RunScore(setting.name, g["J-Mean"], g["F-Mean"], g["J&F-Mean"], frames / seconds if seconds else float("nan"),
                    res)


def bounding_box_masks(sequence: VideoSequence) -> Callable:
    """Memory masks replaced by the bounding box of each ground-truth object (paper Table 5)."""
    ids = sorted(sequence.object_frames)

    def replace(t: int, frame: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        gt = sequence.read_annotation(t)
        boxes = np.zeros_like(gt)
        for o in ids:  # later objects are drawn over earlier ones where boxes overlap
            ys, xs = np.nonzero(gt == o)
            if ys.size:
                boxes[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = o
        return onehot(boxes, ids, probs.device)

    return replace


def model_masks(model: STM) -> Callable[[VideoSequence], Callable]:
    """Memory masks replaced by another model's prediction of the same frame (paper Table 5, "baseline predict").

    The other model runs alongside, on its own memory, frame by frame.
    """

    def for_sequence(sequence: VideoSequence) -> Callable:
        other = VideoPredictor(model, memory="mem")
        other.step(sequence.read_frame(0), sequence.prompt(0))
        state = {"t": 0}

        def replace(t: int, frame: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
            while state["t"] < t:  # keep the other model in step (it sees every frame once)
                state["t"] += 1
                out = other.step(sequence.read_frame(state["t"]), sequence.prompt(state["t"]))
                state["probs"] = out
            return state["probs"][None].to(probs)

        return replace

    return for_sequence
