"""Scoring a video held in memory: the predictions of :meth:`VideoPredictor.propagate` against its ground truth."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..data.video import VideoSequence
from ..errors import DataError
from .davis import SequenceScores, score_sequence
from .pseudo_truth import PseudoTruthRule, implausible_frames

__all__ = ["score_video", "has_ground_truth"]


def has_ground_truth(video: VideoSequence) -> bool:
    """Whether every frame of ``video`` has a ground-truth mask (what J and F need)."""
    return len(video.annotation_paths) == len(video)


def score_video(video: VideoSequence, labels: Sequence[np.ndarray], *, every_frame: bool = False,
                pseudo_truth: PseudoTruthRule | None = None) -> SequenceScores:
    """J and F of ``labels`` (``[H, W]`` object ids, one per frame) against the video's ground truth.

    Args:
        video: the video; every frame needs a ground-truth mask.
        labels: the predictions, e.g. ``[r.labels for r in predictor.propagate(video)]``.
        every_frame: score every frame, the first and last included (per-frame
            curves); default: the DAVIS protocol, frames ``1 .. n-2``
            (:func:`~erfkit.evaluation.score_sequence`).
        pseudo_truth: the annotations after the first are pseudo ground truth: the frames
            this rule finds implausible are left out (:attr:`SequenceScores.left_out`), as
            :func:`~erfkit.evaluation.evaluate_davis` leaves them out.

    Returns:
        :class:`SequenceScores`; ``J`` and ``F`` are ``[K, n-2]`` (``[K, n]`` with ``every_frame``).

    Raises:
        DataError: a frame without ground truth, or predictions of another length.
    """
    missing = [video.frame_name(t) for t in range(len(video)) if t not in video.annotation_paths]
    if missing:
        raise DataError(f"{len(missing)} frame(s) have no ground truth (first: {missing[0]}); J and F need every "
                        "frame's mask", video.name)
    if len(labels) != len(video):
        raise DataError(f"{len(labels)} predictions for {len(video)} frames", video.name)
    gt = [video.read_annotation(t) for t in range(len(video))]
    names = video.frame_names
    if every_frame:  # pad so that the protocol's excluded first and last frames are scored too
        scores = score_sequence([gt[0], *gt, gt[-1]], [None, *labels, None], video.name, ["", *names, ""])
    else:
        scores = score_sequence(gt, list(labels), video.name, names)
    if pseudo_truth is None:
        return scores
    return scores.without([names[t] for t in implausible_frames(gt, pseudo_truth)])
