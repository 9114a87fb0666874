"""The trivial floor: the masks given at a frame, copied to every later frame (no model).

``erfkit segment --copy-first`` and the benchmarks score it beside every
model: a model that does not beat it has not tracked anything.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import DataError
from .predictor import Propagator, object_labels

__all__ = ["CopyFirst"]


class CopyFirst(Propagator):
    """Predicts, at every frame, the latest masks given (objects given later are added over the earlier ones).

    Same interface as :class:`~erfkit.inference.VideoPredictor`: :meth:`propagate`
    a whole video, or :meth:`reset` then :meth:`step` frame by frame.
    """

    def __init__(self) -> None:
        self.reset()

    def settings(self) -> dict:
        """What decides the output (written to a results folder's manifest)."""
        return {"method": "copy-first"}

    def reset(self) -> None:
        self._labels: np.ndarray | None = None
        self._ids: list[int] = []

    def step(self, frame: np.ndarray | torch.Tensor, mask: np.ndarray | None = None) -> torch.Tensor:
        """``[H, W, 3]`` frame (its size only is used), optional ``[H, W]`` index mask -> ``[K+1, H, W]`` one-hot.

        Raises:
            DataError: no mask given at the first frame, or a mask of another size than the frame.
        """
        size = tuple(frame.shape[:2]) if isinstance(frame, np.ndarray) else tuple(frame.shape[-2:])
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != size:
                raise DataError(f"the mask is {mask.shape[1]}x{mask.shape[0]}, the frame {size[1]}x{size[0]}")
            given = (mask > 0) & (mask != 255)
            base = self._labels if self._labels is not None else np.zeros(size, np.uint8)
            self._labels = np.where(given, mask, base).astype(np.uint8)
            self._ids = sorted(set(self._ids) | {int(i) for i in np.unique(mask[given])})
        if self._labels is None:
            raise DataError("the first frame needs a mask")
        ids = torch.tensor([0, *self._ids], dtype=torch.uint8)
        return (torch.from_numpy(self._labels)[None] == ids[:, None, None]).float()

    def labels(self, probs: torch.Tensor) -> np.ndarray:
        """``[K+1, H, W]`` -> ``[H, W]`` uint8 object ids."""
        return object_labels(probs, self._ids)
