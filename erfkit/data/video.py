"""A video on disk: frames read lazily, its annotations, and the masks given to a tracker."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError
from .masks import VOID, image_size, read_frame, read_mask

__all__ = ["VideoSequence", "FRAME_SUFFIXES"]

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class VideoSequence:
    """One video.  Nothing is read until asked for: frames stream one at a time.

    Attributes:
        name: the sequence (video) name.
        frame_paths: the frames, in temporal order.
        annotation_paths: frame index -> annotation PNG (ground truth where it
            exists: every frame in DAVIS train/val, every 5th frame in
            YouTube-VOS train, first appearances only in YouTube-VOS valid).
        object_frames: object id -> index of the frame where the tracker is
            given that object's mask (its first appearance).  Semi-supervised
            DAVIS gives every object of the first frame at frame 0.
        categories: object id -> category name (YouTube-VOS).
    """

    name: str
    frame_paths: list[Path]
    annotation_paths: dict[int, Path]
    object_frames: dict[int, int] = field(default_factory=dict)
    categories: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame_paths)

    def frame_name(self, index: int) -> str:
        """File stem of frame ``index`` (the name its result mask gets)."""
        return self.frame_paths[index].stem

    @property
    def frame_names(self) -> list[str]:
        return [p.stem for p in self.frame_paths]

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the first frame (read from its header)."""
        if not self.frame_paths:
            raise DataError("sequence has no frames", self.name)
        return image_size(self.frame_paths[0])

    def read_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``[H, W, 3]`` uint8 RGB."""
        return read_frame(self.frame_paths[index])

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Stream the frames in order; only one is held at a time."""
        for i in range(len(self)):
            yield self.read_frame(i)

    def read_annotation(self, index: int) -> np.ndarray:
        """Ground-truth mask of frame ``index`` (``[H, W]`` uint8, 255 = void)."""
        if index not in self.annotation_paths:
            raise DataError(f"frame {self.frame_name(index)} has no annotation", self.name)
        return read_mask(self.annotation_paths[index])

    @property
    def prompt_indices(self) -> list[int]:
        """Frames at which the tracker is given masks of new objects, in order."""
        return sorted(set(self.object_frames.values()))

    def prompt(self, index: int) -> np.ndarray | None:
        """The mask given to the tracker at frame ``index``, or ``None``.

        It holds only the objects that are given at this frame (void and other
        objects set to 0), so an annotation that also labels objects tracked
        since earlier frames does not reset them.
        """
        ids = [o for o, f in self.object_frames.items() if f == index]
        if not ids:
            return None
        ann = self.read_annotation(index)
        keep = np.isin(ann, ids) & (ann != VOID)
        return np.where(keep, ann, 0).astype(np.uint8)

    def check_prompts(self, max_objects: int | None = None) -> None:
        """Check the given masks before segmenting: sizes match frames, none is empty.

        Raises:
            DataError: naming the mask file and the problem.
        """
        if len(self) == 0:
            raise DataError("sequence has no frames", self.name)
        if not self.object_frames:
            raise DataError("no object is given in the first-frame mask (empty mask)",
                            self.annotation_paths.get(0, self.name))
        size = self.size
        for index in self.prompt_indices:
            path = self.annotation_paths[index]
            mask = self.prompt(index)
            assert mask is not None
            if mask.shape != size:
                raise DataError(f"mask is {mask.shape[1]}x{mask.shape[0]} but frame "
                                f"{self.frame_paths[index].name} is {size[1]}x{size[0]}", path)
            if not mask.any():
                raise DataError("mask is empty: it labels no object", path)
        if max_objects is not None and len(self.object_frames) > max_objects:
            first = self.annotation_paths[self.prompt_indices[0]]
            raise DataError(f"{len(self.object_frames)} objects, more than the {max_objects} allowed", first,
                            option="max_objects")
