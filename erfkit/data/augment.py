"""Augmentation of training clips, with the same geometry for every frame of a clip.

As in the paper authors' code: crop 0-10%, scale 0.95-1.05, shear +-10 degrees,
rotation +-15 degrees, mirror, contrast and noise.  One affine transform is drawn
per clip and applied to all its frames (bilinear) and masks (nearest), so the
motion inside the clip is the video's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["AugmentConfig", "augment_clip"]


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random clip augmentation (all zero/one: no augmentation).

    Attributes:
        crop: largest fraction cut from each side pair (0.1: up to 10%).
        scale: ``(min, max)`` zoom.
        shear: largest shear, degrees.
        rotate: largest rotation, degrees.
        mirror: probability of a horizontal flip.
        contrast: largest relative contrast change.
        noise: standard deviation of Gaussian pixel noise (0-1 scale).
    """

    crop: float = 0.1
    scale: tuple[float, float] = (0.95, 1.05)
    shear: float = 10.0
    rotate: float = 15.0
    mirror: float = 0.5
    contrast: float = 0.1
    noise: float = 0.01

    @classmethod
    def none(cls) -> "AugmentConfig":
        return cls(0.0, (1.0, 1.0), 0.0, 0.0, 0.0, 0.0, 0.0)


def _affine(rng: np.random.Generator, cfg: AugmentConfig, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """A 2x3 matrix mapping output normalised coordinates to input normalised coordinates."""
    H, W = in_hw
    h, w = out_hw
    crop = rng.uniform(0, cfg.crop, size=2)  # fraction removed in y and x
    scale = rng.uniform(*cfg.scale)
    rot = math.radians(rng.uniform(-cfg.rotate, cfg.rotate))
    shear = math.radians(rng.uniform(-cfg.shear, cfg.shear))
    # Output pixels cover (1 - crop) of the input when out and in sizes match;
    # a smaller output keeps the input's pixel scale (a crop of the frame).
    sx = (1 - crop[1]) / scale * min(1.0, w / W)
    sy = (1 - crop[0]) / scale * min(1.0, h / H)
    # Random placement of the crop inside the frame.
    tx = rng.uniform(-1, 1) * max(0.0, 1 - sx)
    ty = rng.uniform(-1, 1) * max(0.0, 1 - sy)
    c, s = math.cos(rot), math.sin(rot)
    aspect = (W / H)
    # rotation/shear in pixel-isotropic space (normalised x is stretched by W/H)
    R = np.array([[c, -s / aspect], [s * aspect, c]])
    Sh = np.array([[1.0, math.tan(shear) / aspect], [0.0, 1.0]])
    M = R @ Sh @ np.diag([sx, sy])
    if rng.random() < cfg.mirror:
        M = M @ np.diag([-1.0, 1.0])
    return np.concatenate([M, [[tx], [ty]]], axis=1)


def augment_clip(rng: np.random.Generator, frames: torch.Tensor, labels: torch.Tensor, cfg: AugmentConfig,
                 out_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one random transform to a whole clip.

    Args:
        rng: the clip's generator.
        frames: ``[T, 3, H, W]`` float in [0, 1].
        labels: ``[T, H, W]`` integer ids.
        cfg: the ranges.
        out_hw: output ``(h, w)``.

    Returns:
        frames ``[T, 3, h, w]`` and labels ``[T, h, w]`` (long).
    """
    T = frames.shape[0]
    theta = torch.tensor(_affine(rng, cfg, tuple(frames.shape[-2:]), out_hw), dtype=torch.float32)
    grid = F.affine_grid(theta.expand(T, 2, 3), [T, 3, *out_hw], align_corners=False)
    out = F.grid_sample(frames, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    lab = F.grid_sample(labels[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    if cfg.contrast > 0:
        factor = float(1 + rng.uniform(-cfg.contrast, cfg.contrast))
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * factor + mean
    if cfg.noise > 0:
        noise = torch.from_numpy(rng.normal(0, cfg.noise, size=out.shape).astype(np.float32))
        out = out + noise
    return out.clamp(0, 1), lab[:, 0].round().long()
