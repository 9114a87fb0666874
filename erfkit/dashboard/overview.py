"""The dataset page of the dashboard: per-video differences between checkpoint A's and B's explanation stores.

When the atlas folders hold a store (``erfkit erf`` without ``--sequence``)
of each checkpoint, over the same videos and settings, the dashboard opens on
a table of the videos with each one's mean difference (B - A) of the
cycle-ERF metrics and of J, and the dataset-level differences with their
video-bootstrap intervals (:func:`erfkit.explain.compare.compare_stores`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..errors import ErfkitError
from ..files import find_readable
from ..explain.compare import PairedDifference, compare_stores
from ..explain.dataset import STORE_FILE, DatasetStore

__all__ = ["DatasetOverview", "find_stores"]

#: the columns of the per-video table, in order
SHOWN = ("cycle/energy", "cycle/pointing", "cycle/area50", "J")


def find_stores(roots: Iterable[str | os.PathLike]) -> list[DatasetStore]:
    """Every readable explanation store under the given folders."""
    return find_readable(roots, STORE_FILE, DatasetStore)


@dataclass
class DatasetOverview:
    """Checkpoint A's and B's stores over one dataset, compared."""

    a: DatasetStore
    b: DatasetStore
    results: list[PairedDifference]

    @classmethod
    def find(cls, stores: list[DatasetStore], sha_a: str, sha_b: str, data: str | os.PathLike, split: str,
             reps: int = 1000) -> "DatasetOverview | None":
        """The comparison of A's and B's stores of ``data``/``split`` (finished, comparable), or ``None``."""
        root = str(Path(data).resolve())

        def pick(sha: str) -> list[DatasetStore]:
            return [s for s in stores if s.identity.get("checkpoint", {}).get("sha256") == sha
                    and s.identity.get("data") == root and s.identity.get("split") == split
                    and (s.path / "metrics.csv").is_file()]

        for a in pick(sha_a):
            for b in pick(sha_b):
                try:
                    return cls(a, b, compare_stores(a, b, reps=reps))
                except ErfkitError:
                    continue
        return None

    def summary(self) -> pd.DataFrame:
        """Dataset-level differences (B - A): one row per metric, with n, the 95% interval and the p-value."""
        return pd.DataFrame([r.row() for r in self.results]).rename(
            columns={"baseline": "A", "cyclic": "B", "difference": "B - A"})

    def per_video(self) -> pd.DataFrame:
        """One row per video: its mean difference (B - A) of each shown metric, sortable."""
        by_metric = {r.metric: r.per_video for r in self.results if r.metric in SHOWN}
        videos = sorted({v for d in by_metric.values() for v in d})
        return pd.DataFrame({"video": videos, **{f"{m} (B - A)": [by_metric[m].get(v) for v in videos]
                                                 for m in SHOWN if m in by_metric}})
