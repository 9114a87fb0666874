"""Figures of a baseline/cyclic comparison over a dataset, drawn from arrays."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import COLORS

__all__ = ["draw_per_video_differences", "draw_distributions"]


def draw_per_video_differences(per_video: dict[str, dict[str, float]], intervals: dict[str, tuple[float, float, float]],
                               title: str = "") -> plt.Figure:
    """One panel per metric: each video's mean difference (cyclic - baseline), and the overall one with its CI.

    Args:
        per_video: metric -> {video: mean difference}.
        intervals: metric -> (difference, ci_low, ci_high).
    """
    metrics = list(per_video)
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.1 * len(metrics) + 0.6, 3.0), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        values = np.array(list(per_video[m].values()))
        jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(jitter, values, s=12, color=COLORS["cyclic"], alpha=0.8, label="one video")
        d, lo, hi = intervals[m]
        ax.errorbar([0.45], [d], yerr=[[d - lo], [hi - d]], fmt="o", color="black", capsize=3,
                    label="all videos, 95% CI")
        ax.axhline(0, color="#999999", linewidth=0.7)
        ax.set_xlim(-0.4, 0.7)
        ax.set_xticks([])
        ax.set_title(m, fontsize=8)
    axes[0][0].set_ylabel("cyclic - baseline")
    axes[0][-1].legend(frameon=False, fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def draw_distributions(pairs: dict[str, np.ndarray], title: str = "") -> plt.Figure:
    """One panel per metric: histograms of the baseline's and the cyclic's unit values (``pairs[m]: [n, 2]``)."""
    metrics = list(pairs)
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.1 * len(metrics) + 0.6, 2.8), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        p = pairs[m]
        lo, hi = float(np.nanmin(p)), float(np.nanmax(p))
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 21)
        ax.hist(p[:, 0], bins, color=COLORS["baseline"], alpha=0.55, label="baseline")
        ax.hist(p[:, 1], bins, color=COLORS["cyclic"], alpha=0.55, label="cyclic")
        ax.set_title(m, fontsize=8)
        ax.set_yticks([])
    axes[0][0].legend(frameon=False, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
