"""Objects with exact masks and photographic backgrounds, cut from the images scikit-image ships.

No download: every source is in ``skimage.data`` (astronaut, chelsea, coffee,
coins, horse, logo, rocket ...).  A :class:`Sprite` is an RGB patch and a boolean
mask; the colours outside the mask are filled with the nearest object colour so
that bilinear warping never bleeds the photograph's background into the object.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["Sprite", "sprite_library", "background_library"]


@dataclass(frozen=True)
class Sprite:
    """An object: ``rgb [h, w, 3]`` uint8 and ``mask [h, w]`` bool, tightly cropped."""

    name: str
    family: str
    rgb: np.ndarray
    mask: np.ndarray

    @property
    def extent(self) -> int:
        return max(self.mask.shape)


def _data():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import skimage.data as data
    return data


def _rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def _make(name: str, family: str, rgb: np.ndarray, mask: np.ndarray, pad: int = 2) -> Sprite:
    ys, xs = np.nonzero(mask)
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, mask.shape[0])
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, mask.shape[1])
    rgb = _rgb(rgb)[y0:y1, x0:x1].copy()
    mask = mask[y0:y1, x0:x1].copy()
    # Fill the outside with the nearest object colour (no bleeding when warped).
    _, (iy, ix) = ndimage.distance_transform_edt(~mask, return_indices=True)
    rgb = rgb[iy, ix]
    rgb.setflags(write=False)
    mask.setflags(write=False)
    return Sprite(name, family, rgb, mask)


def _ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


@functools.lru_cache(maxsize=1)
def sprite_library() -> tuple[Sprite, ...]:
    """All sprites, in a fixed order (so seeds reproduce the same videos)."""
    d = _data()
    sprites: list[Sprite] = []
    # The horse silhouette, textured with several photographs.
    horse = ~d.horse()
    hh, hw = horse.shape
    for tex_name in ("chelsea", "coffee", "astronaut", "rocket"):
        tex = _rgb(getattr(d, tex_name)())
        th, tw = tex.shape[:2]
        ys = (np.arange(hh) * (th - 1) / max(hh - 1, 1)).astype(int)
        xs = (np.arange(hw) * (tw - 1) / max(hw - 1, 1)).astype(int)
        sprites.append(_make(f"horse-{tex_name}", "horse", tex[ys][:, xs], horse))
    # Coins cut out of the coins photograph (the single, round ones).
    coins = d.coins()
    from skimage.filters import threshold_otsu
    from skimage.measure import label, regionprops

    binary = ndimage.binary_fill_holes(ndimage.binary_closing(coins > threshold_otsu(coins), iterations=2))
    lab = label(binary)
    picked = 0
    for r in regionprops(lab):
        if 900 < r.area < 4000 and r.eccentricity < 0.6:
            y0, x0, y1, x1 = r.bbox
            m = lab[y0:y1, x0:x1] == r.label
            sprites.append(_make(f"coin-{picked}", "coin", coins[y0:y1, x0:x1], m))
            picked += 1
            if picked == 6:
                break
    # The scikit-image logo (its non-white part).
    logo = d.logo()[..., :3]
    sprites.append(_make("logo", "logo", logo, logo.min(axis=2) < 235))
    # Crops of the animal and object photographs, with elliptical masks.
    chelsea = d.chelsea()
    sprites.append(_make("cat", "cat", chelsea, _ellipse(*chelsea.shape[:2], 120, 190, 105, 120)))
    astro = d.astronaut()
    sprites.append(_make("astronaut", "astronaut", astro, _ellipse(*astro.shape[:2], 110, 230, 95, 75)))
    coffee = d.coffee()
    sprites.append(_make("coffee", "coffee", coffee, _ellipse(*coffee.shape[:2], 185, 305, 150, 175)))
    rocket = d.rocket()
    sprites.append(_make("rocket", "rocket", rocket, _ellipse(*rocket.shape[:2], 240, 320, 150, 55)))
    wheel = d.colorwheel()
    sprites.append(_make("colorwheel", "colorwheel", wheel, _ellipse(*wheel.shape[:2], 185, 185, 170, 170)))
    clock = d.clock()
    sprites.append(_make("clock", "clock", clock, _ellipse(*clock.shape[:2], 150, 200, 105, 110)))
    return tuple(sprites)


@functools.lru_cache(maxsize=1)
def background_library() -> tuple[tuple[str, np.ndarray], ...]:
    """Photographs used as backgrounds, RGB uint8, in a fixed order."""
    d = _data()
    names = ("astronaut", "coffee", "rocket", "chelsea", "hubble_deep_field", "immunohistochemistry",
             "retina", "brick", "grass", "gravel", "camera", "moon", "page", "text")
    out = []
    for n in names:
        img = _rgb(getattr(d, n)())
        img.setflags(write=False)
        out.append((n, img))
    return tuple(out)
