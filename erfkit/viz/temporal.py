"""Figures of the memory read and of error onset, drawn from arrays."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .maps import show_frame, show_map
from .style import COLORS, PRED_COLOR

__all__ = ["draw_memory_read", "draw_onset"]


def draw_memory_read(query: np.ndarray, query_mask: np.ndarray | None, point: tuple[int, int] | None,
                     frames: list[np.ndarray | None], names: list[str], share: np.ndarray, j: float,
                     j_without: np.ndarray, maps: np.ndarray | None = None, point_mass: np.ndarray | None = None,
                     title: str = "") -> plt.Figure:
    """The query frame, each memory unit (with the read's weights at ``point`` over it), and per-unit bars.

    Args:
        query: ``[H, W, 3]`` the frame explained; query_mask: ``[H, W]`` its predicted object (outlined).
        point: ``(y, x)`` the pixel whose read is shown (marked), or ``None``.
        frames: the ``T`` memory frames ``[H, W, 3]``, ``None`` for XMem's long-term memory (its prototypes'
            weights are drawn at their keys' cells on grey: they are not pixels of one frame); names: their
            names (``long-term`` for the prototypes).
        share: ``[T]`` share of the read over the object; j, j_without: J with all / without each unit.
        maps: ``[T, H, W]`` the read's weights at ``point`` on each unit (one shared scale).
        point_mass: ``[T]`` the share of each unit at ``point``.
    """
    T = len(frames)
    fig = plt.figure(figsize=(1.9 * (T + 1), 4.4))
    grid = fig.add_gridspec(2, T + 1, height_ratios=[1.0, 0.9])
    ax = fig.add_subplot(grid[0, 0])
    show_frame(ax, query, None, query_mask)
    if point is not None:
        ax.plot([point[1]], [point[0]], marker="+", color=PRED_COLOR, markersize=10, mew=2)
    ax.set_title("query frame", fontsize=8)
    top = float(maps.max()) if maps is not None and maps.size else None
    grey = np.full_like(query, 128)
    for i in range(T):
        a = fig.add_subplot(grid[0, i + 1])
        image = grey if frames[i] is None else frames[i]
        if maps is not None:
            show_map(a, maps[i], image, vmax=top, colorbar=i == T - 1)
        else:
            a.imshow(image)
            a.set_axis_off()
        a.set_title("long-term prototypes\n(at their keys' cells)" if frames[i] is None else f"memory {names[i]}",
                    fontsize=8)
    bars = fig.add_subplot(grid[1, :])
    x = np.arange(T)
    width = 0.27
    bars.bar(x - width, share, width, label="share of the object's read", color=COLORS["cyclic"])
    if point_mass is not None:
        bars.bar(x, point_mass, width, label="share at the point", color=COLORS["gc"])
    bars.bar(x + width, j - np.asarray(j_without), width, label=f"J lost without it (J = {j:.3f})",
             color=COLORS["baseline"])
    bars.axhline(0, color="#999999", linewidth=0.6)
    bars.set_xticks(x, [n if f is None else f"memory {n}" for n, f in zip(names, frames)])
    bars.legend(frameon=False, fontsize=7, ncol=3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def draw_onset(curves: dict[str, np.ndarray], onset: dict[str, int | None], signal: str, threshold: float,
               agreement: np.ndarray | None = None, divergence: int | None = None, title: str = "") -> plt.Figure:
    """Each checkpoint's per-frame signal (J or stability), its onset, and the two checkpoints' agreement."""
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    palette = [COLORS["baseline"], COLORS["cyclic"]]
    for (name, curve), color in zip(curves.items(), palette):
        ax.plot(np.arange(len(curve)), curve, color=color, label=name)
        if onset.get(name) is not None:
            ax.axvline(onset[name], color=color, linestyle=":", linewidth=1.2)
    if agreement is not None:
        ax.plot(np.arange(len(agreement)), agreement, color=COLORS["other"], linestyle="--",
                label="agreement (IoU of the two)")
        if divergence is not None:
            ax.axvline(divergence, color=COLORS["other"], linestyle=":", linewidth=1.2)
    ax.axhline(threshold, color="#999999", linewidth=0.6)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("frame")
    ax.set_ylabel("J" if signal == "J" else "IoU with the previous frame")
    ax.legend(frameon=False, fontsize=7, ncol=3)
    ax.set_title(title or "error onset (dotted: first frame below the threshold)", fontsize=9)
    fig.tight_layout()
    return fig
