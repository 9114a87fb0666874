"""Composite figures: the A/B comparison of one frame (dashboard export) and the paper-style grids."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .maps import display_values, show_difference, show_frame, show_map

__all__ = ["comparison_figure"]


def comparison_figure(frame: np.ndarray, gt: np.ndarray | None, rows: list[tuple[str, np.ndarray | None, dict]],
                      *, shared: bool = True, scale: str = "log", title: str | None = None):
    """One frame, two (or more) models: the frame with outlines, then each map, then A - B.

    Args:
        frame: ``[H, W, 3]`` the frame the maps live on.
        gt: the object's ground-truth mask on it (or ``None``).
        rows: ``(label, predicted mask, {map name: [H, W] map})`` per model.
        shared: one colour scale per map kind across models (fair comparison) or per map.
        scale: ``log`` or ``linear`` display values.
        title: figure title.
    """
    names = list(rows[0][2])
    ncols = 1 + len(names)
    nrows = len(rows) + (1 if len(rows) == 2 else 0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols + 0.4, 1.55 * nrows + 0.4), squeeze=False)
    shown = {}
    for name in names:
        vals = display_values([r[2][name] for r in rows], scale, shared)
        for i, v in enumerate(vals):
            shown[(i, name)] = v
    for i, (label, pred, maps) in enumerate(rows):
        show_frame(axes[i, 0], frame, gt, pred, title=label)
        for j, name in enumerate(names, start=1):
            show_map(axes[i, j], shown[(i, name)], frame, gt, vmax=1.0, title=f"{name} ({label})")
    if len(rows) == 2:
        axes[2, 0].set_axis_off()
        axes[2, 0].text(0.5, 0.5, f"{rows[0][0]} - {rows[1][0]}", ha="center", va="center",
                        transform=axes[2, 0].transAxes)
        for j, name in enumerate(names, start=1):
            show_difference(axes[2, j], shown[(0, name)], shown[(1, name)], gt, title=f"{name}: A - B")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
