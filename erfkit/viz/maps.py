"""Drawing frames, outlines and explanation maps."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, TwoSlopeNorm

from .style import DIFF_CMAP, GT_COLOR, HEAT_CMAP, PRED_COLOR

__all__ = ["show_frame", "show_map", "show_difference", "outline", "map_grid", "display_values", "display_tops", "raw_ticks"]


def outline(ax: Axes, mask: np.ndarray, color: str, style: str = "-", width: float = 1.2) -> None:
    """Draw the outline of a boolean mask."""
    if mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=width, linestyles=style)


def show_frame(ax: Axes, frame: np.ndarray, gt: np.ndarray | None = None, pred: np.ndarray | None = None,
               title: str | None = None) -> None:
    """A frame with the ground-truth (solid) and predicted (dashed) outline of one object."""
    ax.imshow(frame)
    if gt is not None:
        outline(ax, gt, GT_COLOR)
    if pred is not None:
        outline(ax, pred, PRED_COLOR, "--")
    ax.set_axis_off()
    if title:
        ax.set_title(title)


def display_tops(maps: list[np.ndarray], shared: bool = True, clip: float | None = None) -> list[float]:
    """The raw value each map's display scale ends at (its colour bar's top).

    Args:
        maps: ``[H, W]`` non-negative maps.
        shared: one top for all maps (their largest) or one per map.
        clip: a percentile in (0, 100): the top is that percentile of the map's
            values instead of its maximum (brighter maps where a few pixels dominate);
            where the percentile is 0 (a map nonzero on few pixels), the maximum.
    """
    if clip is not None and not 0 < clip < 100:
        raise ValueError(f"clip must be a percentile in (0, 100), not {clip}")
    tops = []
    for m in (np.clip(np.asarray(m, dtype=np.float64), 0, None) for m in maps):
        top = float(np.percentile(m, clip)) if clip is not None and np.size(m) else 0.0
        tops.append(top if top > 0 else float(np.max(m, initial=0.0)))  # a sparse map: its maximum
    return [max(tops, default=0.0)] * len(tops) if shared else tops


def raw_ticks(top: float, scale: str = "log", n: int = 3, low: float = 0.0) -> list[float]:
    """``n`` raw values from ``low`` to ``top`` at evenly spaced colours (evenly in ``log10(1 + m)`` on a log
    display): the labels of a colour bar drawn on display values."""
    if scale == "log" and low >= 0:
        return [float(10 ** v - 1) for v in np.linspace(np.log10(1 + low), np.log10(1 + max(top, low)), n)]
    return [float(v) for v in np.linspace(low, top, n)]


def display_values(maps: list[np.ndarray], scale: str = "log", shared: bool = True,
                   clip: float | None = None) -> list[np.ndarray]:
    """Display values in [0, 1] for maps shown together.

    Args:
        maps: ``[H, W]`` non-negative maps.
        scale: ``log`` (``log10(m + 1)``, the ERF display convention) or ``linear``.
        shared: one normaliser for all maps (their common maximum: fair A/B
            comparison) or each map by its own maximum.
        clip: the scale ends at this percentile of the values (see :func:`display_tops`); above it is 1.
    """
    if scale not in ("log", "linear"):
        raise ValueError(f"scale must be 'log' or 'linear', not {scale!r}")
    f = (lambda v: np.log10(v + 1)) if scale == "log" else (lambda v: v)
    out = []
    for m, top in zip(maps, display_tops(maps, shared, clip)):
        v = f(np.clip(np.asarray(m, dtype=np.float64), 0, None))
        out.append(np.minimum(v / f(top), 1.0) if top > 0 else v)
    return out


def show_map(ax: Axes, m: np.ndarray, frame: np.ndarray | None = None, mask: np.ndarray | None = None,
             vmax: float | None = None, title: str | None = None, alpha: float = 0.75, colorbar: bool = True):
    """A heatmap over a dimmed frame, with the object outline and a colour bar.

    Args:
        m: ``[H, W]`` map (display values, see :func:`display_values`).
        frame: the frame it lives on, shown dimmed underneath.
        mask: the object's mask on that frame (outlined).
        vmax: upper end of the colour scale (shared scales pass the same value).
    """
    if frame is not None:
        ax.imshow(frame.mean(2) if frame.ndim == 3 else frame, cmap="gray", alpha=0.45)
    im = ax.imshow(m, cmap=HEAT_CMAP, norm=Normalize(0, vmax if vmax and vmax > 0 else max(float(m.max()), 1e-12)),
                   alpha=alpha if frame is not None else 1.0)
    return _finish(ax, im, mask, GT_COLOR, title, colorbar)


def _finish(ax: Axes, im, mask: np.ndarray | None, color: str, title: str | None, colorbar: bool):
    """Outline, no axes, title, colour bar: the common end of every map panel."""
    if mask is not None:
        outline(ax, mask, color, width=0.9)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if colorbar:
        cb = ax.figure.colorbar(im, ax=ax, fraction=0.035, pad=0.02)
        cb.ax.tick_params(labelsize=7)
    return im


def show_difference(ax: Axes, a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None,
                    title: str | None = None, colorbar: bool = True):
    """``a - b`` on a symmetric diverging scale."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    lim = max(float(np.abs(d).max()), 1e-12)
    im = ax.imshow(d, cmap=DIFF_CMAP, norm=TwoSlopeNorm(0.0, -lim, lim))
    return _finish(ax, im, mask, "black", title, colorbar)


def map_grid(rows: list[tuple[str, list[np.ndarray]]], frames: list[np.ndarray], masks: list[np.ndarray],
             column_titles: list[str], shared: bool = True, scale: str = "log"):
    """Frames in the first row, then one row of maps per model (the paper's Figure 6 layout).

    Args:
        rows: ``(label, maps)`` per model, one map per column.
        frames: the frames the maps live on.
        masks: the object's mask on each frame (outlined).
        column_titles: a title per column.
        shared: one colour scale for the whole figure (fair comparison) or one per map.
        scale: ``log`` or ``linear`` display values.
    """
    import matplotlib.pyplot as plt

    n = len(frames)
    fig, axes = plt.subplots(len(rows) + 1, n, figsize=(1.9 * n + 0.6, 1.25 * (len(rows) + 1) + 0.3),
                             squeeze=False)
    flat = display_values([m for _, maps in rows for m in maps], scale, shared)
    for j in range(n):
        show_frame(axes[0, j], frames[j], masks[j], title=column_titles[j])
    last = None
    for i, (label, _) in enumerate(rows):
        for j in range(n):
            last = show_map(axes[i + 1, j], flat[i * n + j], frames[j], masks[j], vmax=1.0, colorbar=not shared)
        axes[i + 1, 0].text(-0.08, 0.5, label, transform=axes[i + 1, 0].transAxes, rotation=90, va="center",
                            ha="right")
    if shared and last is not None:
        cb = fig.colorbar(last, ax=axes[1:, :].ravel().tolist(), fraction=0.02, pad=0.01)
        cb.set_label(("log10(1 + m)" if scale == "log" else "m") + " / shared max", fontsize=7)
    return fig
