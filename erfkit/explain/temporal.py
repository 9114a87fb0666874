"""Temporal attribution: which part of the memory a prediction comes from.

For a frame ``t`` of a video, segmented from its memory (what the model's own predictor holds when it reaches
``t``), each memory **unit** (a memorised frame; for XMem also its long-term memory, one unit: see
:mod:`erfkit.inference.memory_read`) gets

* its **share** of the read: the mass of the memory read's weights that falls on it, for the object's
  predicted region at ``t``;
* its **effect**: the object's J at ``t`` when that unit is left out, beside the J with the whole memory.
  J is taken against the ground truth where frame ``t`` has one, else against the prediction with the whole
  memory (then the full J is 1 and an effect says how much the mask changes).

Any :class:`~erfkit.model.memory_model.MemoryModel` works: the units come from its predictor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.video import VideoSequence
from ..errors import ConfigError
from ..evaluation.measures import jaccard
from ..inference.memory_read import MemoryUnit
from ..inference.predictor import VideoPredictor
from ..model.memory_model import MemoryModel

__all__ = ["TemporalAttribution", "temporal_attribution"]


@dataclass
class TemporalAttribution:
    """Each memory unit's share of frame ``frame``'s read and its effect on the object's J.

    Attributes:
        frame: the frame ``t`` explained; object_id: the object.
        units: the ``U`` memory units at ``t`` (:class:`~erfkit.inference.memory_read.MemoryUnit`): the frames
            in memory, and XMem's long-term memory where it holds prototypes.
        share: ``[U]`` each unit's share of the read over the object's predicted region (sums to 1).
        j: the object's J at ``t`` with the whole memory.
        j_without: ``[U]`` its J with each unit left out.
        reference: ``"ground truth"`` or ``"prediction"``: what J is measured against.
        region: ``"prediction"`` or ``"frame"`` (the whole frame, when the object is not predicted at ``t``).
        point: ``(y, x)`` of the frame's file whose read was asked for, or ``None``; then
        point_mass: ``[U]`` each unit's share of the read at that point, and
        point_maps: ``[U, h, w]`` the read's weights on each unit at the file's size (a frame: its cells;
            the long-term memory: each prototype's weight at the cell its key was chosen from).
    """

    frame: int
    object_id: int
    units: list[MemoryUnit]
    share: np.ndarray
    j: float
    j_without: np.ndarray
    reference: str
    region: str
    point: tuple[int, int] | None = None
    point_mass: np.ndarray | None = None
    point_maps: np.ndarray | None = field(default=None, repr=False)

    @property
    def memory_frames(self) -> list[int | None]:
        """Each unit's frame index (``None`` for the long-term memory)."""
        return [u.frame for u in self.units]

    @property
    def effect(self) -> np.ndarray:
        """``[U]`` the J lost when each unit is left out (negative: leaving it out helps)."""
        return self.j - self.j_without

    def to_dict(self) -> dict:
        return {"frame": self.frame, "object_id": self.object_id, "memory_frames": self.memory_frames,
                "units": [{"kind": u.kind, "frame": u.frame, "cells": u.cells, "origins": list(u.origins)}
                          for u in self.units],
                "share": self.share.tolist(), "j": self.j, "j_without": self.j_without.tolist(),
                "effect": self.effect.tolist(), "reference": self.reference, "region": self.region,
                "point": None if self.point is None else list(self.point),
                "point_mass": None if self.point_mass is None else self.point_mass.tolist()}


@torch.no_grad()
def temporal_attribution(model: MemoryModel, video: VideoSequence, frame: int, object_id: int, *,
                         memory: str | None = None, size="checkpoint",
                         point: tuple[int, int] | None = None) -> TemporalAttribution:
    """Share and effect of every memory unit on the object's segmentation of ``frame``.

    Args:
        model: the network (any :class:`~erfkit.model.memory_model.MemoryModel`).
        video: the video (its prompts give the objects).
        frame: ``t``, a frame after the first.
        object_id: the object.
        memory: STM's reference-set strategy (default ``mem``, STM's own); other families run their own policy.
        size: the network's input size (see :class:`~erfkit.VideoPredictor`).
        point: also the read at this pixel ``(y, x)`` of the frame (file coordinates).

    Raises:
        ConfigError: a frame outside ``1 .. n-1``, an object the video lacks at ``frame``, a point outside it.
    """
    if not 1 <= frame < len(video):
        raise ConfigError(f"frame {frame} outside 1..{len(video) - 1} of {video.name}")
    predictor = VideoPredictor(model, size=size, **({} if memory is None else {"memory": memory}))
    for _ in predictor.propagate(video, frames=frame, check=False):
        pass
    if object_id not in predictor.object_ids:
        raise ConfigError(f"object {object_id} is not in {video.name} at frame {frame} "
                          f"(objects: {predictor.object_ids})")
    read = predictor.memory_read(video.read_frame(frame))
    k = read.slot(object_id)
    full = read.labels()
    truth = video.read_annotation(frame) if frame in video.annotation_paths else None
    reference = np.where(truth == 255, 0, truth) if truth is not None else full
    j = jaccard(full == object_id, reference == object_id)
    j_without = np.array([jaccard(read.labels(without=u) == object_id, reference == object_id)
                          for u in range(len(read.units))])
    region = full == object_id
    where = "prediction" if region.any() else "frame"
    share = read.shares(k, torch.as_tensor(region if region.any() else np.ones_like(region)))
    out = TemporalAttribution(frame, object_id, read.units, share.cpu().numpy(), float(j), j_without,
                              "ground truth" if truth is not None else "prediction", where)
    if point is not None:
        out.point = (int(point[0]), int(point[1]))
        out.point_mass = read.shares(k, out.point).cpu().numpy()
        out.point_maps = read.maps(k, out.point).cpu().numpy()
    return out
