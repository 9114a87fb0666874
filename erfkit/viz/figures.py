"""Composite figures: the A/B comparison of one frame (the dashboard's export)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from .maps import display_tops, display_values, raw_ticks, show_difference, show_frame, show_map
from .style import GT_COLOR, PRED_COLOR

__all__ = ["comparison_figure"]


def _raw_ticks(ax_cb, top: float, scale: str, clipped: bool) -> None:
    """Label a colour bar drawn on display values in [0, 1] with the raw values they stand for."""
    pos = np.linspace(0, 1, 3)
    labels = [f"{v:.3g}" for v in raw_ticks(top, scale, len(pos))]
    if clipped:
        labels[-1] = "≥" + labels[-1]
    ax_cb.set_ticks(pos, labels=labels)


def comparison_figure(frame: np.ndarray, gt: np.ndarray | None, rows: list[tuple[str, np.ndarray | None, dict]],
                      *, shared: bool = True, scale: str = "log", clip: float | None = None,
                      title: str | None = None, truth_kind: str = "ground truth"):
    """One frame, two (or more) models: a row per model (the frame with its prediction, then each map), then A - B.

    Method names head the columns and model names the rows, so no title
    overlaps another; colour bars are labelled in the maps' raw units; a
    legend names the outlines.

    Args:
        frame: ``[H, W, 3]`` the frame the maps live on.
        gt: the object's annotation on it (or ``None``).
        rows: ``(label, predicted mask, {map name: [H, W] raw map})`` per model.
        shared: one colour scale per map kind across models (fair comparison) or per map.
        scale: ``log`` or ``linear`` display values.
        clip: end each scale at this percentile of the values (``None``: the maximum).
        title: figure title.
        truth_kind: what ``gt`` is, for the legend.
    """
    names = list(rows[0][2])
    ncols = 1 + len(names)
    nrows = len(rows) + (1 if len(rows) == 2 else 0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.5 * ncols + 0.8, 1.8 * nrows + 1.0), squeeze=False,
                             layout="constrained")
    shown, tops = {}, {}
    for name in names:
        maps = [r[2][name] for r in rows]
        for i, (v, t) in enumerate(zip(display_values(maps, scale, shared, clip), display_tops(maps, shared, clip))):
            shown[(i, name)], tops[(i, name)] = v, t
    for i, (label, pred, _) in enumerate(rows):
        show_frame(axes[i, 0], frame, gt, pred)
        axes[i, 0].text(-0.06, 0.5, label, transform=axes[i, 0].transAxes, rotation=90, va="center", ha="right")
        for j, name in enumerate(names, start=1):
            last_row = i == len(rows) - 1
            im = show_map(axes[i, j], shown[(i, name)], frame, gt, vmax=1.0, colorbar=False)
            if not shared or last_row:  # shared: one bar per column, under its last map
                cb = fig.colorbar(im, ax=[axes[k, j] for k in (range(len(rows)) if shared else [i])],
                                  orientation="horizontal", fraction=0.06, pad=0.02, aspect=30)
                _raw_ticks(cb, tops[(i, name)], scale, clip is not None)
                cb.ax.tick_params(labelsize=7)
    for j, name in enumerate(names, start=1):
        axes[0, j].set_title(name)
    axes[0, 0].set_title("frame")
    if len(rows) == 2:
        axes[2, 0].set_axis_off()
        axes[2, 0].text(0.5, 0.5, f"A - B\n({rows[0][0]}\nminus {rows[1][0]})", ha="center", va="center",
                        transform=axes[2, 0].transAxes, fontsize=8)
        for j, name in enumerate(names, start=1):
            show_difference(axes[2, j], shown[(0, name)], shown[(1, name)], gt)
    handles = [Line2D([], [], color=PRED_COLOR, linestyle="--", label="prediction"),
               Line2D([], [], color=GT_COLOR, label=truth_kind)]
    handles.append(Line2D([], [], color="none", label=("log10(1 + m)" if scale == "log" else "m") + " colours; "
                          + ("one scale for A and B" if shared else "one scale per map")
                          + (f", clipped at the {clip:g}th percentile" if clip is not None else "")))
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False, fontsize=7)
    if title:
        fig.suptitle(title)
    return fig
