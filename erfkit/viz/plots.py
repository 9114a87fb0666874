"""Line plots of the paper's figures: J&F and FPS against N (Fig. 3), J&F against alpha (Fig. 4), per-frame J."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import COLORS

__all__ = ["plot_against_iterations", "plot_against_rate", "plot_per_frame"]


def _color(label: str) -> str:
    low = label.lower()
    for key in ("cyclic", "baseline", "gc", "both"):
        if key in low:
            return COLORS[key]
    return COLORS["other"]


def plot_against_iterations(series: dict[str, list[tuple[float, float, float]]]):
    """Figure 3: J&F and FPS against the number of correction steps ``N``.

    Args:
        series: label -> ``[(N, J&F, FPS), ...]``.
    """
    fig, (a, b) = plt.subplots(1, 2, figsize=(6.4, 2.4))
    for label, pts in series.items():
        n, jf, fps = (np.array(v, dtype=float) for v in zip(*pts))
        a.plot(n, 100 * jf, "o-", color=_color(label), label=label)
        b.plot(n, fps, "o-", color=_color(label), label=label)
    a.set_xlabel("correction steps N")
    a.set_ylabel("J&F (%)")
    b.set_xlabel("correction steps N")
    b.set_ylabel("frames per second")
    a.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_against_rate(series: dict[str, list[tuple[float, float]]]):
    """Figure 4: J&F against the correction rate ``alpha`` (log axis)."""
    fig, ax = plt.subplots(figsize=(3.4, 2.4))
    for label, pts in series.items():
        rate, jf = (np.array(v, dtype=float) for v in zip(*pts))
        ax.plot(rate, 100 * jf, "o-", color=_color(label), label=label)
    ax.set_xscale("log")
    ax.set_xlabel("correction rate alpha")
    ax.set_ylabel("J&F (%)")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_per_frame(curves: dict[str, np.ndarray], marks: dict[str, list[int]] | None = None,
                   title: str | None = None, ylabel: str = "J (IoU)"):
    """Per-frame scores of several runs on one video (error propagation), with frames to mark.

    Args:
        curves: label -> per-frame values (NaN where undefined).
        marks: label -> frame indices to mark (e.g. where a run drifts).
    """
    fig, ax = plt.subplots(figsize=(6.4, 2.4))
    for label, v in curves.items():
        style = "--" if "gc" in label.lower() else "-"
        ax.plot(np.arange(len(v)), v, style, color=_color(label), label=label)
        for t in (marks or {}).get(label, []):
            ax.axvline(t, color=_color(label), alpha=0.25, linewidth=4)
    ax.set_xlabel("frame")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, ncol=2)
    fig.tight_layout()
    return fig
