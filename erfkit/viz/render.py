"""Fast image rendering of frames and maps (numpy + Pillow) for interactive browsing.

Matplotlib figures take a large part of a second to draw; browsing needs a
frame in well under that.  These functions build the same panels (a map over
the dimmed frame, the object outlines, a colour bar with its scale) as RGB
arrays in a few milliseconds.  Exported figures use :mod:`erfkit.viz.maps`.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .style import DIFF_CMAP, GT_COLOR, HEAT_CMAP, PRED_COLOR

__all__ = ["lut", "colorize", "frame_with_masks", "map_panel", "map_panels", "difference_panel", "thumbnail"]


@functools.lru_cache(maxsize=8)
def lut(cmap: str) -> np.ndarray:
    """``[256, 3]`` uint8 colour table of a matplotlib colour map."""
    import matplotlib

    return (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def colorize(values: np.ndarray, cmap: str = HEAT_CMAP) -> np.ndarray:
    """Values in [0, 1] -> ``[H, W, 3]`` uint8."""
    idx = np.clip(np.nan_to_num(values) * 255, 0, 255).astype(np.uint8)
    return lut(cmap)[idx]


def _hex(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], np.uint8)


def _edge(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(bool)
    e = np.zeros_like(m)
    e[:-1] |= m[:-1] != m[1:]
    e[1:] |= m[1:] != m[:-1]
    e[:, :-1] |= m[:, :-1] != m[:, 1:]
    e[:, 1:] |= m[:, 1:] != m[:, :-1]
    return e & m


def _draw_outline(img: np.ndarray, mask: np.ndarray | None, color: str, dashed: bool = False) -> None:
    if mask is None or not mask.any():
        return
    e = _edge(mask)
    if dashed:
        yy, xx = np.indices(e.shape)
        e &= ((yy + xx) // 4) % 2 == 0
    img[e] = _hex(color)


def _thick(edge: np.ndarray) -> np.ndarray:
    """An edge grown by one pixel each way (2-3 px lines: visible on a panel shown at half size)."""
    out = edge.copy()
    out[1:] |= edge[:-1]
    out[:-1] |= edge[1:]
    out[:, 1:] |= edge[:, :-1]
    out[:, :-1] |= edge[:, 1:]
    return out


def frame_with_masks(frame: np.ndarray, truth: np.ndarray | None = None, pred: np.ndarray | None = None,
                     color: str = PRED_COLOR, alpha: float = 0.45) -> np.ndarray:
    """The frame with the prediction filled in ``color`` (``alpha`` opaque, outlined) and the truth outlined.

    Args:
        frame: ``[H, W, 3]`` uint8.
        truth: ``[H, W]`` bool, the ground truth (or pseudo ground truth), drawn as a thick solid outline.
        pred: ``[H, W]`` bool, the prediction, filled.
    """
    img = np.array(frame, dtype=np.float32, copy=True)
    if pred is not None and pred.any():
        m = pred.astype(bool)
        img[m] = (1 - alpha) * img[m] + alpha * _hex(color).astype(np.float32)
        img[_thick(_edge(m))] = _hex(color)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if truth is not None and truth.any():
        out[_thick(_edge(truth))] = _hex(GT_COLOR)
    return out


@functools.lru_cache(maxsize=1)
def _font():
    return ImageFont.load_default()


@functools.lru_cache(maxsize=256)
def _colorbar(height: int, cmap: str, low: str, high: str, note: str = "", width: int = 14) -> np.ndarray:
    """A vertical colour bar with its top and bottom values (and a note, e.g. the scale, under the top)."""
    bar = np.repeat(colorize(np.linspace(1, 0, height)[:, None], cmap), width, axis=1)
    canvas = Image.new("RGB", (width + 44, height), "white")
    canvas.paste(Image.fromarray(bar), (0, 0))
    d = ImageDraw.Draw(canvas)
    d.text((width + 3, 0), high, fill="black", font=_font())
    if note and height >= 36:
        d.text((width + 3, 12), note, fill="gray", font=_font())
    d.text((width + 3, height - 11), low, fill="black", font=_font())
    out = np.asarray(canvas)
    out.setflags(write=False)  # cached: shared by every panel with this scale
    return out


def _fmt(v: float) -> str:
    return f"{v:.2g}" if (abs(v) < 0.01 or abs(v) >= 1000) and v != 0 else f"{v:.2f}"


def map_panel(values: np.ndarray, frame: np.ndarray | None = None, mask: np.ndarray | None = None,
              top: float | None = None, label: str = "", cmap: str = HEAT_CMAP, alpha: float = 0.7,
              colorbar: bool = True) -> np.ndarray:
    """A map (display values in [0, 1]) over the dimmed frame, outlined, with a colour bar.

    Args:
        values: ``[H, W]`` in [0, 1].
        frame: the frame the map lives on.
        mask: the object's mask there (outlined).
        top: the raw value that 1.0 stands for (written on the colour bar).
        label: what the scale is (``log`` or ``linear``), written under the top value.
        alpha: the map's opacity over the frame.
        colorbar: draw the colour bar into the image (the dashboard draws its own, in HTML).
    """
    heat = colorize(values, cmap).astype(np.float32)
    if frame is not None:
        grey = frame.astype(np.float32).mean(2, keepdims=True) * 0.5
        a = alpha * np.clip(values, 0, 1)[..., None] ** 0.5
        heat = heat * a + grey * (1 - a)
    img = np.clip(heat, 0, 255).astype(np.uint8)
    _draw_outline(img, mask, GT_COLOR)
    if not colorbar:
        return img
    high = _fmt(top) if top is not None else "1"
    bar = _colorbar(img.shape[0], cmap, "0", high, label)
    gap = np.full((img.shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([img, gap, bar], axis=1)


def map_panels(maps: list[np.ndarray], frames: list[np.ndarray], masks: list[np.ndarray | None],
               scale: str = "log") -> list[np.ndarray]:
    """Panels of many frames on ONE scale (an animation's): each ``[H, W]`` map over its frame, outlined.

    The display values are ``log10(1 + map)`` (or linear) over the maximum of
    every map, and the colour bar shows that raw maximum.
    """
    from .maps import display_values

    shown = display_values(maps, scale, shared=True)
    top = max((float(np.max(m)) for m in maps), default=0.0)
    return [map_panel(v, f, m, top, scale) for v, f, m in zip(shown, frames, masks)]


def difference_panel(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None,
                     colorbar: bool = True) -> np.ndarray:
    """``a - b`` (display values) on a symmetric diverging scale, with a colour bar (unless ``colorbar=False``)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    lim = float(np.abs(d).max()) or 1.0
    img = colorize(0.5 + d / (2 * lim), DIFF_CMAP)
    img = np.array(img, copy=True)
    _draw_outline(img, mask, "#000000")
    if not colorbar:
        return img
    bar = _colorbar(img.shape[0], DIFF_CMAP, f"-{_fmt(lim)}", f"+{_fmt(lim)}")
    gap = np.full((img.shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([img, gap, bar], axis=1)


def thumbnail(img: np.ndarray, width: int = 160) -> np.ndarray:
    """A smaller copy for overview grids."""
    h, w = img.shape[:2]
    return np.asarray(Image.fromarray(img).resize((width, max(1, round(h * width / w))), Image.Resampling.BILINEAR))
