"""Temporal attribution: which memory frame a prediction comes from.

For a frame ``t`` of a video, segmented from its memory (the frames the
predictor holds when it reaches ``t``), each memory frame gets

* its **share** of the read: the mass of the memory read's attention
  (:func:`~erfkit.explain.memory.memory_attention`) that falls on it, for the
  object's predicted region at ``t``;
* its **effect**: the object's J at ``t`` when that memory frame is left out,
  beside the J with the whole memory.  J is taken against the ground truth
  where frame ``t`` has one, else against the prediction with the whole memory
  (then the full J is 1 and an effect says how much the mask changes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.video import VideoSequence
from ..errors import ConfigError
from ..evaluation.measures import jaccard
from ..inference.predictor import VideoPredictor
from ..model.memory_model import MemoryFrames, MemoryModel
from ..tensors import class_index, frame_tensor
from .memory import memory_attention

__all__ = ["TemporalAttribution", "temporal_attribution"]


@dataclass
class TemporalAttribution:
    """Each memory frame's share of frame ``frame``'s read and its effect on the object's J.

    Attributes:
        frame: the frame ``t`` explained; object_id: the object.
        memory_frames: the indices of the ``T`` frames in memory at ``t``.
        share: ``[T]`` each memory frame's share of the read over the object's predicted region (sums to 1).
        j: the object's J at ``t`` with the whole memory.
        j_without: ``[T]`` its J with each memory frame left out.
        reference: ``"ground truth"`` or ``"prediction"``: what J is measured against.
        region: ``"prediction"`` or ``"frame"`` (the whole frame, when the object is not predicted at ``t``).
        point: ``(y, x)`` of the frame's file whose read was asked for, or ``None``; then
        point_mass: ``[T]`` each memory frame's share of the read at that point, and
        point_maps: ``[T, h, w]`` the read's weights on each memory frame at the file's size.
    """

    frame: int
    object_id: int
    memory_frames: list[int]
    share: np.ndarray
    j: float
    j_without: np.ndarray
    reference: str
    region: str
    point: tuple[int, int] | None = None
    point_mass: np.ndarray | None = None
    point_maps: np.ndarray | None = None

    @property
    def effect(self) -> np.ndarray:
        """``[T]`` the J lost when each memory frame is left out (negative: leaving it out helps)."""
        return self.j - self.j_without

    def to_dict(self) -> dict:
        return {"frame": self.frame, "object_id": self.object_id, "memory_frames": self.memory_frames,
                "share": self.share.tolist(), "j": self.j, "j_without": self.j_without.tolist(),
                "effect": self.effect.tolist(), "reference": self.reference, "region": self.region,
                "point": None if self.point is None else list(self.point),
                "point_mass": None if self.point_mass is None else self.point_mass.tolist()}


@torch.no_grad()
def temporal_attribution(model: MemoryModel, video: VideoSequence, frame: int, object_id: int, *, memory: str = "mem",
                         size="checkpoint", point: tuple[int, int] | None = None) -> TemporalAttribution:
    """Share and effect of every memory frame on the object's segmentation of ``frame``.

    Args:
        model: the network (any :class:`~erfkit.model.memory_model.MemoryModel`).
        video: the video (its prompts give the objects).
        frame: ``t``, a frame after the first.
        object_id: the object.
        memory: the predictor's reference-set strategy (``mem``: STM's).
        size: the network's input size (see :class:`~erfkit.VideoPredictor`).
        point: also the read at this pixel ``(y, x)`` of the frame (file coordinates).

    Raises:
        ConfigError: a frame outside ``1 .. n-1``, an object the video lacks at ``frame``, a point outside it.
    """
    if not 1 <= frame < len(video):
        raise ConfigError(f"frame {frame} outside 1..{len(video) - 1} of {video.name}")
    predictor = VideoPredictor(model, memory=memory, size=size)
    for _ in predictor.propagate(video, frames=frame, check=False):
        pass
    if object_id not in predictor.object_ids:
        raise ConfigError(f"object {object_id} is not in {video.name} at frame {frame} "
                          f"(objects: {predictor.object_ids})")
    k = predictor.object_ids.index(object_id)
    mem, frames = predictor.current_memory()
    box = predictor.letterbox
    assert box is not None
    x = box.image(frame_tensor(video.read_frame(frame), predictor.device, predictor.dtype))
    q = model.encode_query(x)
    ids = np.array([0] + predictor.object_ids)

    def labels(m: MemoryFrames) -> np.ndarray:
        return ids[class_index(box.probs_to_frame(model.segment(q, m).softmax(1))[0], 0).cpu().numpy()]

    full = labels(mem)
    truth = video.read_annotation(frame) if frame in video.annotation_paths else None
    reference = np.where(truth == 255, 0, truth) if truth is not None else full
    j = jaccard(full == object_id, reference == object_id)
    j_without = np.array([jaccard(labels(mem.without(i)) == object_id, reference == object_id)
                          for i in range(len(frames))])
    region = box.labels(torch.from_numpy(np.ascontiguousarray(full))).numpy() == object_id  # on the canvas
    where = "prediction" if region.any() else "frame"
    region_t = torch.as_tensor(region if region.any() else np.ones_like(region))
    share = memory_attention(model, mem, q, region_t, object=k).frame_mass.cpu().numpy()
    out = TemporalAttribution(frame, object_id, frames, share, float(j), j_without,
                              "ground truth" if truth is not None else "prediction", where)
    if point is not None:
        try:
            canvas_point = box.point(*point)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        att = memory_attention(model, mem, q, canvas_point, object=k)
        out.point, out.point_mass = (int(point[0]), int(point[1])), att.frame_mass.cpu().numpy()
        out.point_maps = box.map_to_frame(att.maps).cpu().numpy()
    return out
