"""Where a segmentation starts to fail: the error onset of each checkpoint, and where two checkpoints diverge.

With ground truth the signal is each frame's J; without it, the mask's
stability: its overlap (IoU) with the previous frame's mask, which falls when
the mask collapses, explodes or jumps.  The onset is the first frame past the
first where the signal falls below ``threshold``; the divergence is the first
such frame where the two checkpoints' masks overlap less than ``threshold``::

    onset = error_onset(video, {"baseline": labels_a, "cyclic": labels_b}, object_id=1)
    onset.onset["baseline"], onset.divergence, onset.signal     # e.g. 17, 12, "J"
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..data.video import VideoSequence
from ..errors import ConfigError
from .measures import jaccard
from .pseudo_truth import PseudoTruthRule, implausible_frames
from .video import has_ground_truth

__all__ = ["Onset", "error_onset", "MaskEvent", "mask_events"]


@dataclass
class Onset:
    """Error onsets on one video.

    Attributes:
        signal: ``"J"`` (against ground truth) or ``"stability"`` (IoU with the previous frame's mask).
        object_id: the object followed (``None``: every object, the mask of all of them).
        threshold: the level below which the signal counts as failed.
        curves: each checkpoint's signal per frame ``[n]`` (NaN at frame 0 for stability).
        onset: each checkpoint's first failed frame (``None``: it never fails).
        agreement: ``[n]`` IoU between the two checkpoints' masks (two checkpoints only).
        divergence: the first frame where they overlap less than ``threshold`` (``None``: never, or one checkpoint).
        left_out: frames whose pseudo ground truth the rule found implausible: NaN in the J curves, never an
            onset.
    """

    signal: str
    object_id: int | None
    threshold: float
    curves: dict[str, np.ndarray]
    onset: dict[str, int | None]
    agreement: np.ndarray | None
    divergence: int | None
    left_out: list[int] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-able: numbers as lists, NaN as ``None``."""
        def clean(a: np.ndarray) -> list:
            return [None if np.isnan(v) else float(v) for v in a]

        return {"signal": self.signal, "object_id": self.object_id, "threshold": self.threshold,
                "onset": self.onset, "divergence": self.divergence, "left_out": self.left_out,
                "curves": {k: clean(v) for k, v in self.curves.items()},
                "agreement": None if self.agreement is None else clean(self.agreement)}


def _mask(labels: np.ndarray, object_id: int | None) -> np.ndarray:
    lab = np.where(labels == 255, 0, labels)
    return lab > 0 if object_id is None else lab == object_id


def _first_below(curve: np.ndarray, threshold: float) -> int | None:
    hit = np.flatnonzero(curve[1:] < threshold)  # frame 0 is given, never a failure
    return int(hit[0]) + 1 if hit.size else None


def error_onset(video: VideoSequence, labels: dict[str, Sequence[np.ndarray]], *, object_id: int | None = None,
                threshold: float = 0.5, pseudo_truth: PseudoTruthRule | None = None) -> Onset:
    """The first frame where each checkpoint's segmentation fails, and where two checkpoints diverge.

    Args:
        video: the video (its ground truth is used when every frame has one).
        labels: checkpoint name -> its ``[H, W]`` object ids of every frame (e.g. from
            :meth:`erfkit.VideoPredictor.propagate`); one or two checkpoints.
        object_id: follow one object (default: all objects together).
        threshold: in ``(0, 1)``; a signal below it is a failure.
        pseudo_truth: the annotations are pseudo ground truth: the frames this rule finds implausible
            (:data:`~erfkit.evaluation.PSEUDO_TRUTH_RULE`) have no J and cannot be an onset.

    Raises:
        ConfigError: no checkpoint, more than two, predictions of another length, a bad threshold,
            an object the video lacks.
    """
    if not 0 < threshold < 1:
        raise ConfigError(f"threshold must lie in (0, 1), got {threshold}")
    if not 1 <= len(labels) <= 2:
        raise ConfigError(f"give one or two checkpoints' labels, got {len(labels)}")
    n = len(video)
    for name, lab in labels.items():
        if len(lab) != n:
            raise ConfigError(f"{name}: {len(lab)} predictions for {n} frames")
    if object_id is not None and object_id not in video.object_frames:
        raise ConfigError(f"object {object_id} is not in {video.name} (objects: {sorted(video.object_frames)})")
    truth = has_ground_truth(video)
    annotations = [video.read_annotation(t) for t in range(n)] if truth else []
    left_out = implausible_frames(annotations, pseudo_truth) if truth and pseudo_truth is not None else []
    curves: dict[str, np.ndarray] = {}
    for name, lab in labels.items():
        masks = [_mask(m, object_id) for m in lab]
        if truth:
            curves[name] = np.array([jaccard(m, _mask(a, object_id)) for m, a in zip(masks, annotations)])
            curves[name][left_out] = np.nan  # NaN is never below the threshold
        else:
            curves[name] = np.array([np.nan] + [jaccard(masks[t], masks[t - 1]) for t in range(1, n)])
    agreement = divergence = None
    if len(labels) == 2:
        a, b = ([_mask(m, object_id) for m in lab] for lab in labels.values())
        agreement = np.array([jaccard(x, y) for x, y in zip(a, b)])
        divergence = _first_below(agreement, threshold)
    return Onset("J" if truth else "stability", object_id, threshold, curves,
                 {k: _first_below(v, threshold) for k, v in curves.items()}, agreement, divergence, left_out)


@dataclass(frozen=True)
class MaskEvent:
    """A frame where a predicted mask behaves suspiciously.

    Attributes:
        frame: the frame index.
        kind: ``"collapse"`` (the mask shrinks below ``collapse`` times its first area, or vanishes),
            ``"explosion"`` (it grows past ``explode`` times that area) or ``"jump"`` (it overlaps the
            previous frame's mask less than ``jump`` in IoU, both being non-empty).
        detail: a phrase for the page, e.g. ``"area 0.04x the first frame's"``.
    """

    frame: int
    kind: str
    detail: str


def mask_events(labels: Sequence[np.ndarray], object_id: int, *, collapse: float = 0.1, explode: float = 4.0,
                jump: float = 0.2) -> list[MaskEvent]:
    """The frames where one object's predicted mask collapses, explodes or jumps (at most one event each).

    Args:
        labels: ``[H, W]`` object ids of every frame; the first frame holding the object (its given
            mask) gives the reference area, and later frames are checked.
        object_id: the object.
        collapse, explode: area ratios to frame 0's mask; jump: the least IoU with the previous frame.
    """
    masks = [_mask(m, object_id) for m in labels]
    first = next((t for t, m in enumerate(masks) if m.any()), None)  # where the object is given
    if first is None:
        return []
    ref = int(masks[first].sum())
    out = []
    for t in range(first + 1, len(masks)):
        ratio = masks[t].sum() / ref
        if ratio < collapse:
            out.append(MaskEvent(t, "collapse", "no mask" if ratio == 0 else f"area {ratio:.2f}x the first frame's"))
        elif ratio > explode:
            out.append(MaskEvent(t, "explosion", f"area {ratio:.1f}x the first frame's"))
        elif masks[t - 1].any() and (iou := jaccard(masks[t], masks[t - 1])) < jump:
            out.append(MaskEvent(t, "jump", f"IoU {iou:.2f} with the previous frame"))
    return out
