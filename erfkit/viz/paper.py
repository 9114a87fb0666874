"""The paper's figures, rebuilt from a dataset and two checkpoints (baseline, cyclic).

* Figure 1 (:func:`error_propagation`): a video with a look-alike distractor,
  per-frame J of baseline and cyclic with and without gradient correction,
  and the frames where the baseline drifts;
* Figures 3-4: through :mod:`erfkit.experiments` (J&F/FPS against N and alpha);
* Figure 5 (:func:`qualitative`): frames with the two models' masks;
* Figure 6 (:func:`cycle_erf_figure`): frames and their cycle-ERFs for both models.

:func:`write_all` writes them all (PNG + PDF) and the tables; ``small``
settings keep it to a few CPU minutes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data.davis import DavisDataset
from ..data.letterbox import Letterbox
from ..data.video import VideoSequence
from ..errors import ConfigError
from ..evaluation.davis import score_sequence
from ..explain.cycle import CycleERFConfig, cycle_erf
from ..inference.correction import GCConfig
from ..inference.predictor import VideoPredictor
from ..tensors import frame_tensor, onehot
from ..inference.runner import segment_sequence
from ..model.checkpoint import checkpoint_input_size
from ..model.stm import STM
from .maps import map_grid, outline, show_frame
from .style import COLORS, paper_style, save_figure

__all__ = ["pick_distractor_video", "error_propagation", "qualitative", "cycle_erf_figure", "write_all",
           "PropagationResult"]

#: the paper's gradient correction (N = 10, every K = 5 frames, rate 180)
GC = GCConfig(iters=10, rate=180.0, every=5)


def _per_frame_j(seq: VideoSequence, labels: list[np.ndarray]) -> np.ndarray:
    """Mean J over objects for every frame (first and last included; NaN where undefined)."""
    gt = [seq.read_annotation(t) for t in range(len(seq))]
    s = score_sequence([gt[0], *gt, gt[-1]], [None, *labels, None], seq.name)  # pad: score every frame
    return s.J.mean(0)


def _labels(model: STM, seq: VideoSequence, gc: GCConfig | None = None) -> list[np.ndarray]:
    return segment_sequence(VideoPredictor(model, gc=gc or GCConfig()), seq, None, keep=True)[1]


def pick_distractor_video(dataset: DavisDataset, baseline: STM, candidates: int | None = None) -> str:
    """The distractor video where the baseline loses the most J between its best and its last quarter."""
    names = [n for n in dataset.names if "distractor" in n] or list(dataset.names)
    if candidates:
        names = names[:candidates]
    worst, drop = names[0], -1.0
    for n in names:
        j = _per_frame_j(dataset[n], _labels(baseline, dataset[n]))
        d = float(np.nanmax(j) - np.nanmean(j[-max(1, len(j) // 4):]))
        if d > drop:
            worst, drop = n, d
    return worst


@dataclass
class PropagationResult:
    """Per-frame J of each run on one video, and where the baseline drifts."""

    sequence: str
    curves: dict[str, np.ndarray]
    drift_frames: list[int]
    labels: dict[str, list[np.ndarray]]


def error_propagation(dataset: DavisDataset, baseline: STM, cyclic: STM, sequence: str,
                      threshold: float = 0.5) -> tuple[plt.Figure, PropagationResult]:
    """Figure 1 idea: per-frame J of baseline/cyclic, with/without GC, on a distractor video.

    The baseline "drifts" at frames where its J falls below ``threshold`` after
    having been above it; those frames are marked and shown.
    """
    seq = dataset[sequence]
    runs = {"baseline": (baseline, None), "baseline + GC": (baseline, GC), "cyclic": (cyclic, None),
            "cyclic + GC": (cyclic, GC)}
    labels = {name: _labels(m, seq, g) for name, (m, g) in runs.items()}
    curves = {name: _per_frame_j(seq, lab) for name, lab in labels.items()}
    jb = curves["baseline"]
    above = np.maximum.accumulate(np.nan_to_num(jb, nan=0.0) > threshold)
    drift = [t for t in range(1, len(jb)) if above[t - 1] and jb[t] < threshold <= jb[t - 1]]
    shown = (drift or [int(np.nanargmin(jb))])[:2]
    shown = sorted(set([0, *shown, len(seq) - 1]))
    fig = plt.figure(figsize=(6.8, 4.4))
    grid = fig.add_gridspec(2, len(shown), height_ratios=[1.1, 1.0])
    ax = fig.add_subplot(grid[0, :])
    for name, v in curves.items():
        ax.plot(np.arange(len(v)), v, "--" if "GC" in name else "-", label=name,
                color=COLORS["cyclic" if "cyclic" in name else "baseline"])
    for t in drift:
        ax.axvline(t, color=COLORS["baseline"], alpha=0.25, linewidth=4)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("frame")
    ax.set_ylabel("J (mean over objects)")
    ax.set_title(f"{sequence}: the baseline drifts at the shaded frames" if drift else sequence)
    ax.legend(frameon=False, ncol=4, fontsize=7)
    for j, t in enumerate(shown):
        a = fig.add_subplot(grid[1, j])
        gt = seq.read_annotation(t)
        a.imshow(seq.read_frame(t))
        for lab, color, style in ((labels["baseline"][t], COLORS["baseline"], "-"),
                                  (labels["cyclic"][t], COLORS["cyclic"], "--")):
            outline(a, lab > 0, color, style)
        outline(a, gt > 0, "#00FF66", ":", 0.8)
        a.set_axis_off()
        a.set_title(f"frame {t}", fontsize=8)
    fig.tight_layout()
    return fig, PropagationResult(sequence, curves, drift, labels)


def qualitative(dataset: DavisDataset, baseline: STM, cyclic: STM, sequences: list[str], frames: int = 4):
    """Figure 5 idea: frames of a few videos with the baseline (top) and cyclic (bottom) masks."""
    fig, axes = plt.subplots(2 * len(sequences), frames, figsize=(1.7 * frames, 1.05 * 2 * len(sequences) + 0.2),
                             squeeze=False)
    for i, name in enumerate(sequences):
        seq = dataset[name]
        picks = np.linspace(1, len(seq) - 1, frames).round().astype(int)
        for r, (label, model) in enumerate((("baseline", baseline), ("cyclic", cyclic))):
            lab = _labels(model, seq)
            for j, t in enumerate(picks):
                ax = axes[2 * i + r, j]
                show_frame(ax, seq.read_frame(int(t)), seq.read_annotation(int(t)) > 0, lab[int(t)] > 0)
                if j == 0:
                    ax.text(-0.05, 0.5, f"{label}", transform=ax.transAxes, rotation=90, va="center", ha="right",
                            fontsize=7)
                if r == 0:
                    ax.set_title(f"{name[:18]} #{t}", fontsize=7)
    fig.tight_layout()
    return fig


def cycle_erf_figure(dataset: DavisDataset, baseline: STM, cyclic: STM, sequence: str, references: list[int],
                     steps: int = 50, rate: float = 180.0, target: int = 0, shared: bool = True):
    """Figure 6: reference frames (top) and their cycle-ERFs for baseline and cyclic, target = first frame.

    Returns:
        the figure and ``{"baseline": [L, K, H, W], "cyclic": ...}`` maps.
    """
    seq = dataset[sequence]
    dev = baseline.device
    x_t = frame_tensor(seq.read_frame(target), dev)
    # at the network's input size (the baseline checkpoint's), maps brought back to the frame's size
    box = Letterbox.fit(tuple(x_t.shape[-2:]), checkpoint_input_size(baseline))
    gt_t = seq.read_annotation(target)
    ids = [int(o) for o in np.unique(gt_t) if o not in (0, 255)]
    y_t = box.mask(onehot(gt_t, ids, dev))
    xs = box.image(torch.cat([frame_tensor(seq.read_frame(t), dev) for t in references]))
    x_t = box.image(x_t)
    cfg = CycleERFConfig(steps=steps, rate=rate)
    maps = {name: box.map_to_frame(cycle_erf(m, xs, x_t, y_t, cfg).maps).cpu().numpy() for name, m in
            (("baseline", baseline), ("cyclic", cyclic))}
    frames = [seq.read_frame(t) for t in references]
    masks = [np.isin(seq.read_annotation(t), ids) for t in references]
    rows = [(name, [m[i].max(0) for i in range(len(references))]) for name, m in maps.items()]
    fig = map_grid(rows, frames, masks, [f"frame {t}" for t in references], shared=shared)
    return fig, maps


#: what :func:`write_all` can write, in order
FIGURES = ("fig1", "fig6", "fig5", "fig3", "fig4", "table3", "table4", "table5")


def write_all(data: str | os.PathLike, baseline: STM, cyclic: STM, out: str | os.PathLike, *, small: bool = False,
              split: str = "val", only: list[str] | None = None, progress: bool = True) -> list[Path]:
    """Write the figures (PNG + PDF) and the tables into ``out``.

    ``small``: one video for the experiments, the quick N/alpha grids, 10
    cycle-ERF steps; full: every video of the split and the paper's settings.
    ``only``: a subset of :data:`FIGURES` (default: all of them).
    """
    from ..experiments import run_experiment

    wanted = list(FIGURES) if only is None else list(only)
    unknown = [w for w in wanted if w not in FIGURES]
    if unknown:
        raise ConfigError(f"unknown figure {unknown[0]!r}; choose from {', '.join(FIGURES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = DavisDataset(data, split)
    written: list[Path] = []
    with paper_style():
        if "fig1" in wanted or "fig6" in wanted:
            seq = pick_distractor_video(ds, baseline, candidates=2 if small else None)
        if "fig1" in wanted:
            fig, _ = error_propagation(ds, baseline, cyclic, seq)
            written += save_figure(fig, out / "fig1_error_propagation")
        if "fig6" in wanted:
            n = len(ds[seq])
            refs = [int(t) for t in np.linspace(n // 6, n - 1, 4 if small else 6).round()]
            fig, _ = cycle_erf_figure(ds, baseline, cyclic, seq, refs, steps=10 if small else 50)
            written += save_figure(fig, out / "fig6_cycle_erf")
        if "fig5" in wanted:
            fig = qualitative(ds, baseline, cyclic, ds.names[:1 if small else 3])
            written += save_figure(fig, out / "fig5_qualitative")
    sequences = 1 if small else None
    for name in ("fig3", "fig4", "table3", "table4", "table5"):
        if name in wanted:
            run_experiment(name, data, baseline, cyclic, out, split=split, sequences=sequences, quick=small,
                           progress=progress)
            written += sorted(out.glob(f"{name}.*"))
    return written
