"""YouTube-VOS style scores: J and F for seen and unseen categories and their mean G.

For each object (``meta.json`` gives its category and first frame), J and F are
measured on every annotated frame after the frame where the object is given;
the object's score is the mean over those frames.  ``J_seen`` is the mean over
objects whose category is in the seen list, likewise ``J_unseen``, ``F_seen``,
``F_unseen``; ``G`` is the mean of the four.  Valid-set numbers come from the
challenge server; locally this needs a split whose frames are all annotated
(e.g. a held-out part of ``train``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from tqdm.auto import tqdm

from ..data.masks import VOID, read_mask
from ..data.youtube import YouTubeVOSDataset
from ..errors import DataError
from .measures import bound_radius, frame_measures

__all__ = ["YouTubeScores", "evaluate_youtube"]


@dataclass
class YouTubeScores:
    """Per-object means and the four seen/unseen numbers with their mean ``G``."""

    objects: list[dict] = field(default_factory=list)  # video, object, category, seen, J, F, frames

    def _mean(self, key: str, seen: bool) -> float:
        vals = [o[key] for o in self.objects if o["seen"] == seen]
        return float(np.mean(vals)) if vals else float("nan")

    def summary(self) -> dict[str, float]:
        s = {"J_seen": self._mean("J", True), "J_unseen": self._mean("J", False),
             "F_seen": self._mean("F", True), "F_unseen": self._mean("F", False)}
        vals = [v for v in s.values() if not np.isnan(v)]
        s["G"] = float(np.mean(vals)) if vals else float("nan")
        return s

    def table(self) -> str:
        s = self.summary()
        head = "  ".join(f"{k:>8}" for k in ("G", "J_seen", "J_unseen", "F_seen", "F_unseen"))
        vals = "  ".join(f"{s[k]:>8.3f}" for k in ("G", "J_seen", "J_unseen", "F_seen", "F_unseen"))
        return f"{head}\n{vals}"


def evaluate_youtube(data: str | os.PathLike, results: str | os.PathLike, seen_categories: Iterable[str],
                     split: str = "train", *, progress: bool = True) -> YouTubeScores:
    """Score a results folder on a YouTube-VOS-layout split with full annotations.

    Args:
        data: dataset root (holding ``<split>/meta.json`` and ``<split>/Annotations``).
        results: folder with ``<video>/<frame>.png``, one per annotated frame.
        seen_categories: categories seen in training; the others are unseen.
        split: the split folder.
        progress: show a progress bar.
    """
    ds = YouTubeVOSDataset(data, split, frames=False)
    seen = set(seen_categories)
    res_root = Path(results)
    if not res_root.is_dir():
        raise DataError("results folder not found", res_root)
    out = YouTubeScores()
    for seq in tqdm(ds, total=len(ds), desc=f"eval {split}", unit="video", disable=not progress):
        objects = sorted(seq.object_frames)
        if not objects:
            continue
        K = max(objects)
        scores: dict[int, tuple[list[float], list[float]]] = {o: ([], []) for o in objects}
        for index, ann_path in sorted(seq.annotation_paths.items()):
            wanted = [o for o in objects if index > seq.object_frames[o]]
            if not wanted:
                continue
            gt = read_mask(ann_path)
            gt[gt == VOID] = 0
            res = res_root / seq.name / ann_path.name
            if not res.is_file():
                raise DataError("missing result frame", res)
            pred = read_mask(res)
            if pred.shape != gt.shape:
                raise DataError(f"prediction is {pred.shape[1]}x{pred.shape[0]} but the ground truth is "
                                f"{gt.shape[1]}x{gt.shape[0]}", res)
            if int(pred.max(initial=0)) > K:
                raise DataError(f"prediction holds object id {int(pred.max())} but the video has objects "
                                f"up to {K}", res)
            J, F = frame_measures(pred, gt, K, bound_radius(gt.shape))
            for o in wanted:
                scores[o][0].append(J[o - 1])
                scores[o][1].append(F[o - 1])
        for o in objects:
            js, fs = scores[o]
            if not js:
                continue
            cat = seq.categories.get(o, "")
            out.objects.append({"video": seq.name, "object": o, "category": cat, "seen": cat in seen,
                                "J": float(np.mean(js)), "F": float(np.mean(fs)), "frames": len(js)})
    return out
