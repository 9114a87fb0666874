"""Running one inference setting over a split and scoring it in memory (J, F, J&F, FPS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.davis import DavisDataset, marked_pseudo_truth
from ..data.video import VideoSequence
from ..evaluation.davis import DavisResults
from ..evaluation.pseudo_truth import PSEUDO_TRUTH_RULE
from ..evaluation.video import score_video
from ..inference.correction import GCConfig
from ..inference.predictor import VideoPredictor
from ..tensors import onehot
from ..model.stm import STM

__all__ = ["Setting", "RunScore", "run_setting", "bounding_box_masks", "model_masks", "mask_to_box"]


@dataclass
class Setting:
    """One row of an experiment: a model and how it is run."""

    name: str
    model: STM
    memory: str = "mem"
    gc: GCConfig = field(default_factory=GCConfig)
    #: ``f(sequence, predictor) -> memory_masks callable`` (see :class:`VideoPredictor`), or None
    memory_masks: Callable[[VideoSequence, VideoPredictor], Callable] | None = None
    #: the network's input size: ``"HxW"``, ``"native"`` or ``"checkpoint"`` (its training size)
    size: str = "checkpoint"


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
    rule = PSEUDO_TRUTH_RULE if marked_pseudo_truth(dataset.root) else None  # as evaluate_davis's "auto"
    for n in tqdm(names, desc=setting.name, unit="video", leave=False, disable=not progress):
        seq = dataset[n]
        predictor = VideoPredictor(setting.model, memory=setting.memory, gc=setting.gc, size=setting.size)
        if setting.memory_masks is not None:
            predictor.memory_masks = setting.memory_masks(seq, predictor)
        labels = []
        for r in predictor.propagate(seq):
            labels.append(r.labels)
            seconds += r.seconds
        frames += len(labels)
        scores.append(score_video(seq, labels, pseudo_truth=rule))
    res = DavisResults(dataset.split, scores)
    g = res.global_scores()
    return RunScore(setting.name, g["J-Mean"], g["F-Mean"], g["J&F-Mean"], frames / seconds if seconds else float("nan"),
                    res)


def mask_to_box(onehot: torch.Tensor) -> torch.Tensor:
    """Each channel of a one-hot mask -> the filled bounding box of its pixels (as the authors' ``mask_to_box``).

    Every channel is boxed on its own, the background channel (0) included, as
    in the authors' code (STM-Training, ``libs/utils/utility.py``): the box
    spans the first to the last row and column holding a positive pixel.  A
    channel with no positive pixel stays 0.  Boxes of overlapping objects
    overlap (each on its own channel); nothing is drawn over anything.

    Args:
        onehot: ``[B, K+1, H, W]`` masks (one-hot or probabilities).

    Returns:
        ``[B, K+1, H, W]`` boxes: 1 inside, 0 outside, in ``onehot``'s dtype.
    """
    if onehot.ndim != 4:
        raise ValueError(f"mask_to_box takes [B, K+1, H, W], got shape {tuple(onehot.shape)}")
    on = onehot > 0
    rows, cols = on.any(-1), on.any(-2)  # [B, C, H], [B, C, W]

    def between(x: torch.Tensor) -> torch.Tensor:  # from the first True to the last True, inclusive
        return (x.cumsum(-1) > 0) & (x.flip(-1).cumsum(-1).flip(-1) > 0)

    return (between(rows)[..., :, None] & between(cols)[..., None, :]).to(onehot.dtype)


def _canvas_onehot(predictor: VideoPredictor, mask: np.ndarray) -> torch.Tensor:
    """An annotation ``[h, w]`` -> ``[1, K+1, H, W]`` in the predictor's object order, as the network sees it."""
    if hasattr(predictor, "canvas_onehot"):
        return predictor.canvas_onehot(mask)
    return onehot(mask, predictor.object_ids, predictor.device)  # the network runs at the file's size


def bounding_box_masks(sequence: VideoSequence, predictor: VideoPredictor) -> Callable:
    """Memory masks replaced by the bounding boxes of the ground-truth objects (paper Table 5).

    The boxes are made as the authors make them: the annotation of frame ``t``
    as the network sees it (one-hot over ``[background, *predictor.object_ids]``,
    letterboxed onto the network's canvas by ``predictor.canvas_onehot``),
    then :func:`mask_to_box` per channel (overlapping boxes stay in both
    objects' channels).

    Args:
        sequence: the video (frame ``t``'s annotation must exist).
        predictor: the :class:`VideoPredictor` that will call the result as its
            ``memory_masks`` (its object order and canvas are read at each call).

    Returns:
        ``f(t, frame [1, 3, H, W], probs [1, K+1, H, W]) -> [1, K+1, H, W]``, on the canvas.
    """

    def replace(t: int, frame: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        boxes = mask_to_box(_canvas_onehot(predictor, sequence.read_annotation(t))).to(probs)
        if boxes.shape != probs.shape:
            raise ValueError(f"boxes {tuple(boxes.shape)} do not match the prediction {tuple(probs.shape)}")
        return boxes

    return replace


def model_masks(model: STM) -> Callable[[VideoSequence, VideoPredictor], Callable]:
    """Memory masks replaced by another model's prediction of the same frame (paper Table 5, "baseline predict").

    The other model runs alongside in its own :class:`VideoPredictor` (``mem``
    strategy, the same canvas and device as ``predictor``), on its own memory,
    frame by frame.  What replaces the memory mask is the other model's
    prediction on the canvas (the probabilities it would itself memorise),
    with its channels put in ``predictor``'s object order.

    Returns:
        ``f(sequence, predictor) -> memory_masks callable`` (see :func:`bounding_box_masks`).
    """

    def for_sequence(sequence: VideoSequence, predictor: VideoPredictor) -> Callable:
        other = VideoPredictor(model, memory="mem", device=predictor.device, size=predictor.size)
        state: dict = {"t": 0, "probs": None}

        def capture(t: int, frame: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
            state["probs"] = probs  # the other model's prediction on the canvas, before it is memorised
            return probs

        other.memory_masks = capture
        stream = other.propagate(sequence, check=False)  # advanced one frame at a time, in step
        next(stream)

        def replace(t: int, frame: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
            while state["t"] < t:  # keep the other model in step (it sees every frame once)
                state["t"] += 1
                state["probs"] = None
                next(stream)
            if state["probs"] is None:
                raise ValueError(f"the other model has no prediction of frame {t} (objects were given there)")
            theirs = state["probs"]
            order = [0] + [1 + other.object_ids.index(o) for o in predictor.object_ids]
            out = theirs[:, order].to(probs)
            if out.shape != probs.shape:
                raise ValueError(f"the other model's prediction {tuple(out.shape)} does not match "
                                 f"{tuple(probs.shape)}")
            return out

        return replace

    return for_sequence
