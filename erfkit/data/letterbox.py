"""The network's input size: letterboxing frames and masks onto a fixed canvas, and back.

The paper and the authors' code (STM-Training) run the network at 240x427 for
training and inference.  Their test-time ``Rescale`` scales a frame by
``f = min(240 / h, 427 / w)`` to ``int(f * h) x int(f * w)`` (bilinear) and
centres it on a zero canvas of 240x427 (``pad = (canvas - inner) // 2``);
their ``write_mask`` crops the canvas back, resizes the probabilities to the
file's size with nearest interpolation and takes the argmax.  This module does
exactly that, on tensors:

* :meth:`Letterbox.image`: ``[B, 3, h, w]`` frames -> ``[B, 3, H, W]`` canvas;
* :meth:`Letterbox.mask`: ``[B, C, h, w]`` one-hot masks -> canvas.  The
  authors' code resizes masks *bilinearly* (its ``cv2.INTER_NEAREST`` lands in
  ``cv2.resize``'s ``dst`` argument, not ``interpolation``) and then truncates
  to ``uint8``: a pixel keeps a label only where the bilinear value is 1, so
  boundary pixels get no label at all (every channel 0).  We do the same, so a
  given mask means to the network what it meant in the authors' training and
  tests;
* :meth:`Letterbox.probs_to_frame`: canvas probabilities -> the file's size
  (crop, nearest), as ``write_mask``;
* :meth:`Letterbox.map_to_frame`: canvas maps (explanations) -> the file's
  size (crop, bilinear: maps are smooth, and nearest would make blocks).

A size policy is ``(H, W)`` (letterbox onto that canvas) or ``None``
("native": run at the file's own size; then every method is the identity).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = ["Letterbox", "InputSize", "parse_size", "format_size", "PAPER_SIZE"]

#: The paper's input size, ``(H, W)``.
PAPER_SIZE = (240, 427)

#: ``(H, W)``, or ``None`` for the file's own size.
InputSize = tuple[int, int] | None


def parse_size(text: str | tuple[int, int] | list[int] | None) -> InputSize:
    """``"240x427"`` -> ``(240, 427)``; ``"native"`` or ``None`` -> ``None``.

    Also accepts a ``(H, W)`` pair (e.g. read back from JSON).
    """
    if text is None:
        return None
    if isinstance(text, (tuple, list)):
        if len(text) != 2:
            raise ConfigError(f"an input size is (height, width), got {list(text)}")
        h, w = (int(v) for v in text)
    else:
        s = str(text).strip().lower()
        if s == "native":
            return None
        parts = s.split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ConfigError(f"input size {text!r} is neither HxW (e.g. 240x427) nor 'native'")
        h, w = (int(p) for p in parts)
    if h < 16 or w < 16:
        raise ConfigError(f"input size {h}x{w} is too small (at least 16x16)")
    return (h, w)


def format_size(size: InputSize) -> str:
    """The inverse of :func:`parse_size`: ``(240, 427)`` -> ``"240x427"``, ``None`` -> ``"native"``."""
    return "native" if size is None else f"{size[0]}x{size[1]}"


@functools.lru_cache(maxsize=64)
def _nearest_index_list(src: int, dst: int) -> tuple[int, ...]:
    inv = 1.0 / (dst / src)
    return tuple(min(int(math.floor(x * inv)), src - 1) for x in range(dst))


def _nearest_index(src: int, dst: int, device: torch.device) -> torch.Tensor:
    """Source index of each output pixel, as OpenCV's ``INTER_NEAREST`` computes it.

    ``floor(x * (1 / (dst / src)))`` in double precision: torch's ``nearest``
    uses ``src / dst`` and picks another pixel where the two round differently
    (6 columns of 910 for 427 -> 910).
    """
    return torch.tensor(_nearest_index_list(src, dst), device=device)


@dataclass(frozen=True)
class Letterbox:
    """Where a frame of the file's size lies on the network's canvas.

    Attributes:
        frame: the file's ``(h, w)``.
        canvas: the network's ``(H, W)`` (equal to ``frame`` when native).
        inner: the scaled frame's ``(sh, sw)`` on the canvas.
        top, left: the canvas border above and left of the frame.
    """

    frame: tuple[int, int]
    canvas: tuple[int, int]
    inner: tuple[int, int]
    top: int
    left: int

    @classmethod
    def fit(cls, frame: tuple[int, int], size: InputSize) -> "Letterbox":
        """The letterbox of a ``frame = (h, w)`` file under the policy ``size`` (``None``: native)."""
        h, w = int(frame[0]), int(frame[1])
        if size is None:
            return cls((h, w), (h, w), (h, w), 0, 0)
        H, W = int(size[0]), int(size[1])
        factor = min(H / h, W / w)
        sh, sw = int(factor * h), int(factor * w)
        return cls((h, w), (H, W), (sh, sw), (H - sh) // 2, (W - sw) // 2)

    @property
    def identity(self) -> bool:
        """Whether the network runs at the file's size (nothing to do)."""
        return self.frame == self.canvas == self.inner

    def _place(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, sh, sw]`` -> ``[B, C, H, W]`` on a zero canvas."""
        if self.inner == self.canvas:
            return x
        out = x.new_zeros((*x.shape[:-2], *self.canvas))
        sh, sw = self.inner
        out[..., self.top:self.top + sh, self.left:self.left + sw] = x
        return out

    def _resize(self, x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        if mode == "nearest":
            rows = _nearest_index(x.shape[-2], size[0], x.device)
            cols = _nearest_index(x.shape[-1], size[1], x.device)
            return x.index_select(-2, rows).index_select(-1, cols)
        lead = x.shape[:-2]
        y = x.reshape(-1, 1, *x.shape[-2:]) if x.ndim != 4 else x
        y = F.interpolate(y, size=size, mode=mode, align_corners=False)
        return y.reshape(*lead, *size)

    def point(self, y: int, x: int) -> tuple[int, int]:
        """A pixel ``(y, x)`` of the file -> the canvas pixel it is scaled to.

        Raises:
            ValueError: the pixel lies outside the file's frame.
        """
        (h, w), (sh, sw) = self.frame, self.inner
        if not (0 <= y < h and 0 <= x < w):
            raise ValueError(f"point ({y}, {x}) lies outside the {w}x{h} frame")
        return self.top + min(sh - 1, y * sh // h), self.left + min(sw - 1, x * sw // w)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., H, W]`` on the canvas -> ``[..., sh, sw]``: the border removed."""
        sh, sw = self.inner
        return x[..., self.top:self.top + sh, self.left:self.left + sw]

    # ------------------------------------------------------------------ to the canvas
    def image(self, x: torch.Tensor) -> torch.Tensor:
        """Frames ``[B, 3, h, w]`` in [0, 1] -> ``[B, 3, H, W]``: bilinear, centred on a black canvas."""
        self._check(x)
        if self.identity:
            return x
        return self._place(self._resize(x, self.inner, "bilinear"))

    def mask(self, onehot: torch.Tensor) -> torch.Tensor:
        """One-hot masks ``[B, C, h, w]`` -> ``[B, C, H, W]`` as the authors' code makes them.

        Bilinear, then truncated (a channel keeps a pixel where its bilinear
        value is 1): boundary pixels end up with every channel 0, and so does
        the canvas border.
        """
        self._check(onehot)
        if self.identity:
            return onehot
        return self._place(self._resize(onehot, self.inner, "bilinear").floor_())

    def labels(self, labels: torch.Tensor) -> torch.Tensor:
        """An index mask ``[h, w]`` (integer) -> ``[H, W]`` on the canvas: nearest, border 0.

        For regions and points on the canvas (saliency regions, ERF units); the
        mask given to the network goes through :meth:`mask`.
        """
        self._check(labels)
        if self.identity:
            return labels
        return self._place(self._resize(labels[None, None], self.inner, "nearest"))[0, 0]

    # ------------------------------------------------------------------ to the file
    def probs_to_frame(self, probs: torch.Tensor) -> torch.Tensor:
        """Probabilities ``[..., H, W]`` on the canvas -> ``[..., h, w]``: crop, then nearest (``write_mask``)."""
        if self.identity:
            return probs
        return self._resize(self.crop(probs), self.frame, "nearest")

    def map_to_frame(self, maps: torch.Tensor) -> torch.Tensor:
        """Maps ``[..., H, W]`` on the canvas -> ``[..., h, w]``: crop, then bilinear."""
        if self.identity:
            return maps
        return self._resize(self.crop(maps), self.frame, "bilinear")

    def _check(self, x: torch.Tensor) -> None:
        if tuple(x.shape[-2:]) != self.frame:
            raise ValueError(f"expected [..., {self.frame[0]}, {self.frame[1]}], got {tuple(x.shape)}")
