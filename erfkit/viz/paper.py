"""Drawing the paper's Figures 1, 5 and 6 from arrays (nothing here runs a model).

* :func:`draw_error_propagation` (Figure 1 idea): per-frame J curves of a
  few runs on one video, the frames where the baseline drifts, and a few
  frames with the baseline's and cyclic model's outlines;
* :func:`draw_qualitative` (Figure 5 layout): frames of a few videos with
  each model's masks, one row per model;
* :func:`draw_cycle_erf` (Figure 6 layout): frames and their cycle-ERFs for
  both models, on one colour scale.

The runs that produce these arrays (segmenting, scoring, cycle-ERFs) live in
:mod:`erfkit.experiments.figures`; ``erfkit experiment fig1,fig5,fig6``
writes the figures.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .maps import map_grid, outline, show_frame
from .style import COLORS

__all__ = ["draw_error_propagation", "draw_qualitative", "draw_cycle_erf"]

#: outline of the ground truth in Figure 1's frames
_GT_OUTLINE = "#00FF66"


def draw_error_propagation(curves: dict[str, np.ndarray], drift_frames: Sequence[int], shown: Sequence[int],
                           frames: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray],
                           baseline: Sequence[np.ndarray], cyclic: Sequence[np.ndarray],
                           title: str = "") -> plt.Figure:
    """Figure 1 idea: per-frame J curves on top, a few frames with both models' outlines below.

    Args:
        curves: ``{run name: [n]}`` mean J over objects per frame (NaN where
            undefined); names containing ``GC`` are dashed, names containing
            ``cyclic`` get the cyclic colour.
        drift_frames: frames where the baseline drifts (shaded on the curves).
        shown: indices of the frames shown below the curves (one panel each).
        frames: ``[H, W, 3]`` uint8 frames, one per entry of ``shown``.
        ground_truth: ``[H, W]`` label maps of those frames (outlined, dotted green).
        baseline: ``[H, W]`` baseline label maps of those frames (solid outline).
        cyclic: ``[H, W]`` cyclic-model label maps of those frames (dashed outline).
        title: the video's name; the title says the baseline drifts when ``drift_frames`` is not empty.

    Returns:
        the figure.
    """
    shown = list(shown)
    if not len(frames) == len(ground_truth) == len(baseline) == len(cyclic) == len(shown):
        raise ValueError("shown, frames, ground_truth, baseline and cyclic need one entry per shown frame")
    fig = plt.figure(figsize=(6.8, 4.4))
    grid = fig.add_gridspec(2, max(1, len(shown)), height_ratios=[1.1, 1.0])
    ax = fig.add_subplot(grid[0, :])
    for name, v in curves.items():
        v = np.asarray(v, dtype=np.float64)
        ax.plot(np.arange(len(v)), v, "--" if "GC" in name else "-", label=name,
                color=COLORS["cyclic" if "cyclic" in name else "baseline"])
    for t in drift_frames:
        ax.axvline(t, color=COLORS["baseline"], alpha=0.25, linewidth=4)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("frame")
    ax.set_ylabel("J (mean over objects)")
    ax.set_title(f"{title}: the baseline drifts at the shaded frames" if len(drift_frames) else title)
    ax.legend(frameon=False, ncol=4, fontsize=7)
    for j, t in enumerate(shown):
        a = fig.add_subplot(grid[1, j])
        a.imshow(frames[j])
        for lab, color, style in ((baseline[j], COLORS["baseline"], "-"), (cyclic[j], COLORS["cyclic"], "--")):
            outline(a, np.asarray(lab) > 0, color, style)
        outline(a, np.asarray(ground_truth[j]) > 0, _GT_OUTLINE, ":", 0.8)
        a.set_axis_off()
        a.set_title(f"frame {t}", fontsize=8)
    fig.tight_layout()
    return fig


def draw_qualitative(videos: Sequence[tuple[str, Sequence[int], Sequence[np.ndarray], Sequence[np.ndarray],
                                            dict[str, Sequence[np.ndarray]]]]) -> plt.Figure:
    """Figure 5 layout: for each video, one row of frames per model with its mask and the ground truth.

    Args:
        videos: per video ``(name, frame indices [F], frames [H, W, 3] uint8 (F of them),
            ground truth [H, W] label maps (F), {model name: [H, W] label maps (F)})``;
            one row per model, in the dictionary's order (e.g. baseline, then cyclic).

    Returns:
        the figure (ground truth solid, prediction dashed, outlines of all objects).
    """
    videos = list(videos)
    rows_per = max((len(v[4]) for v in videos), default=1)
    cols = max((len(v[1]) for v in videos), default=1)
    fig, axes = plt.subplots(rows_per * len(videos), cols,
                             figsize=(1.7 * cols, 1.05 * rows_per * len(videos) + 0.2), squeeze=False)
    for i, (name, picks, frames, gts, predictions) in enumerate(videos):
        for r, (label, labels) in enumerate(predictions.items()):
            for j, t in enumerate(picks):
                ax = axes[rows_per * i + r, j]
                show_frame(ax, frames[j], np.asarray(gts[j]) > 0, np.asarray(labels[j]) > 0)
                if j == 0:
                    ax.text(-0.05, 0.5, f"{label}", transform=ax.transAxes, rotation=90, va="center", ha="right",
                            fontsize=7)
                if r == 0:
                    ax.set_title(f"{name[:18]} #{t}", fontsize=7)
    fig.tight_layout()
    return fig


def draw_cycle_erf(maps: dict[str, np.ndarray], frames: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                   references: Sequence[int], shared: bool = True) -> plt.Figure:
    """Figure 6 layout: reference frames on top, then one row of cycle-ERFs per model.

    Args:
        maps: ``{model name: [L, K, H, W]}`` cycle-ERF maps at the frames' size (one per
            reference frame and object); each panel shows the maximum over objects.
        frames: the ``L`` reference frames, ``[H, W, 3]`` uint8.
        masks: the objects' ``[H, W]`` boolean mask on each reference frame (outlined).
        references: the reference frames' indices (the column titles).
        shared: one colour scale for the whole figure (fair comparison) or one per map.

    Returns:
        the figure.
    """
    n = len(references)
    rows = [(name, [np.asarray(m)[i].max(0) for i in range(n)]) for name, m in maps.items()]
    return map_grid(rows, list(frames), list(masks), [f"frame {t}" for t in references], shared=shared)
