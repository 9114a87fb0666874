"""The paper's Figures 1, 5 and 6: the runs behind them (segmenting, scoring, cycle-ERFs).

* Figure 1 (:func:`error_propagation`): a video with a look-alike distractor
  (:func:`pick_distractor_video`), per-frame J of baseline and cyclic with and
  without gradient correction (:func:`propagation_curves`), and the frames
  where the baseline drifts;
* Figure 5 (:func:`qualitative`): frames of a few videos with the two models' masks;
* Figure 6 (:func:`cycle_erf_figure`): reference frames and their cycle-ERFs for both models.

Each computes arrays and hands them to the drawing functions of
:mod:`erfkit.viz.paper`.  :func:`fig1`, :func:`fig5` and :func:`fig6` are the
experiments ``erfkit experiment fig1,fig5,fig6`` runs
(:func:`erfkit.experiments.run_experiment`): they write
``fig1_error_propagation``, ``fig5_qualitative`` and ``fig6_cycle_erf`` (PNG + PDF).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data.davis import DavisDataset
from ..data.letterbox import Letterbox
from ..data.video import VideoSequence
from ..evaluation.video import score_video
from ..explain.cycle import CycleERFConfig, cycle_erf
from ..inference.correction import GCConfig
from ..inference.predictor import VideoPredictor
from ..model.checkpoint import checkpoint_input_size
from ..model.stm import STM
from ..tensors import frame_tensor, onehot
from ..viz.paper import draw_cycle_erf, draw_error_propagation, draw_qualitative
from ..viz.style import paper_style, save_figure
from .context import PAPER_GC, ExperimentContext

__all__ = ["segment_labels", "per_frame_j", "pick_distractor_video", "drift_frames", "PropagationResult",
           "propagation_curves", "error_propagation", "qualitative", "cycle_erf_maps", "cycle_erf_figure",
           "fig1", "fig5", "fig6", "FIGURE_FILES"]

#: the file names (without suffix) the figure experiments write
FIGURE_FILES = {"fig1": "fig1_error_propagation", "fig5": "fig5_qualitative", "fig6": "fig6_cycle_erf"}


def segment_labels(model: STM, seq: VideoSequence, gc: GCConfig | None = None) -> list[np.ndarray]:
    """``[H, W]`` uint8 label maps of every frame of ``seq`` (memory ``mem``; ``gc``: gradient correction or off)."""
    return [r.labels for r in VideoPredictor(model, gc=gc).propagate(seq)]


def per_frame_j(seq: VideoSequence, labels: Sequence[np.ndarray]) -> np.ndarray:
    """``[n]`` mean J over objects for every frame, first and last included (NaN where undefined)."""
    return score_video(seq, labels, every_frame=True).J.mean(0)


def pick_distractor_video(dataset: DavisDataset, baseline: STM, candidates: int | None = None,
                          names: Sequence[str] | None = None) -> str:
    """The distractor video where the baseline loses the most J between its best frame and its last quarter.

    Args:
        dataset: the split.
        baseline: the model whose drift is looked for.
        candidates: try only the first this many videos (default: all of them).
        names: the videos to choose from (default: the whole split); those with
            ``distractor`` in their name, or all of them when none has.
    """
    pool = list(dataset.names if names is None else names)
    pool = [n for n in pool if "distractor" in n] or pool
    if candidates:
        pool = pool[:candidates]
    worst, drop = pool[0], -1.0
    for n in pool:
        j = per_frame_j(dataset[n], segment_labels(baseline, dataset[n]))
        d = float(np.nanmax(j) - np.nanmean(j[-max(1, len(j) // 4):]))
        if d > drop:
            worst, drop = n, d
    return worst


def drift_frames(curve: np.ndarray, threshold: float = 0.5) -> list[int]:
    """Frames where ``curve`` (``[n]`` per-frame J) falls below ``threshold`` after having been above it."""
    above = np.maximum.accumulate(np.nan_to_num(curve, nan=0.0) > threshold)
    return [t for t in range(1, len(curve)) if above[t - 1] and curve[t] < threshold <= curve[t - 1]]


@dataclass
class PropagationResult:
    """Per-frame J of each run on one video, and where the baseline drifts.

    Attributes:
        sequence: the video's name.
        curves: ``{run: [n]}`` mean J over objects per frame (runs: baseline,
            baseline + GC, cyclic, cyclic + GC).
        drift_frames: frames where the baseline's J falls below the threshold.
        labels: ``{run: n label maps [H, W]}``.
    """

    sequence: str
    curves: dict[str, np.ndarray]
    drift_frames: list[int]
    labels: dict[str, list[np.ndarray]]

    @property
    def shown(self) -> list[int]:
        """The frames Figure 1 shows: the first, up to two drift frames (or the worst one), the last."""
        jb = self.curves["baseline"]
        picked = (self.drift_frames or [int(np.nanargmin(jb))])[:2]
        return sorted(set([0, *picked, len(jb) - 1]))


def propagation_curves(dataset: DavisDataset, baseline: STM, cyclic: STM, sequence: str, threshold: float = 0.5,
                       gc: GCConfig = PAPER_GC) -> PropagationResult:
    """Segment ``sequence`` with baseline and cyclic, each with and without ``gc``, and score every frame."""
    seq = dataset[sequence]
    runs = {"baseline": (baseline, None), "baseline + GC": (baseline, gc), "cyclic": (cyclic, None),
            "cyclic + GC": (cyclic, gc)}
    labels = {name: segment_labels(m, seq, g) for name, (m, g) in runs.items()}
    curves = {name: per_frame_j(seq, lab) for name, lab in labels.items()}
    return PropagationResult(sequence, curves, drift_frames(curves["baseline"], threshold), labels)


def error_propagation(dataset: DavisDataset, baseline: STM, cyclic: STM, sequence: str,
                      threshold: float = 0.5) -> tuple[plt.Figure, PropagationResult]:
    """Figure 1 idea: per-frame J of baseline/cyclic, with/without the paper's GC, on a distractor video.

    The baseline "drifts" at frames where its J falls below ``threshold`` after
    having been above it; those frames are marked and shown.

    Returns:
        the figure (:func:`erfkit.viz.paper.draw_error_propagation`) and the curves.
    """
    res = propagation_curves(dataset, baseline, cyclic, sequence, threshold)
    seq = dataset[sequence]
    shown = res.shown
    fig = draw_error_propagation(res.curves, res.drift_frames, shown, [seq.read_frame(t) for t in shown],
                                 [seq.read_annotation(t) for t in shown],
                                 [res.labels["baseline"][t] for t in shown], [res.labels["cyclic"][t] for t in shown],
                                 title=sequence)
    return fig, res


def qualitative(dataset: DavisDataset, baseline: STM, cyclic: STM, sequences: Sequence[str],
                frames: int = 4) -> plt.Figure:
    """Figure 5 idea: ``frames`` frames of a few videos with the baseline (top) and cyclic (bottom) masks."""
    videos = []
    for name in sequences:
        seq = dataset[name]
        picks = [int(t) for t in np.linspace(1, len(seq) - 1, frames).round().astype(int)]
        preds = {label: segment_labels(model, seq) for label, model in (("baseline", baseline), ("cyclic", cyclic))}
        videos.append((name, picks, [seq.read_frame(t) for t in picks], [seq.read_annotation(t) for t in picks],
                       {label: [lab[t] for t in picks] for label, lab in preds.items()}))
    return draw_qualitative(videos)


def cycle_erf_maps(dataset: DavisDataset, baseline: STM, cyclic: STM, sequence: str, references: Sequence[int],
                   steps: int = 50, rate: float = 180.0, target: int = 0) -> dict[str, np.ndarray]:
    """Cycle-ERFs of the ``references`` frames for both models, target = frame ``target`` with its ground truth.

    The network runs at the baseline checkpoint's input size (frames letterboxed
    onto it); the maps are brought back to the frame's size.

    Returns:
        ``{"baseline": [L, K, H, W], "cyclic": [L, K, H, W]}`` numpy maps.
    """
    seq = dataset[sequence]
    dev = baseline.device
    x_t = frame_tensor(seq.read_frame(target), dev)
    box = Letterbox.fit(tuple(x_t.shape[-2:]), checkpoint_input_size(baseline))
    gt_t = seq.read_annotation(target)
    ids = [int(o) for o in np.unique(gt_t) if o not in (0, 255)]
    y_t = box.mask(onehot(gt_t, ids, dev))
    xs = box.image(torch.cat([frame_tensor(seq.read_frame(t), dev) for t in references]))
    x_t = box.image(x_t)
    cfg = CycleERFConfig(steps=steps, rate=rate)
    return {name: box.map_to_frame(cycle_erf(m, xs, x_t, y_t, cfg).maps).cpu().numpy() for name, m in
            (("baseline", baseline), ("cyclic", cyclic))}


def cycle_erf_figure(dataset: DavisDataset, baseline: STM, cyclic: STM, sequence: str, references: list[int],
                     steps: int = 50, rate: float = 180.0, target: int = 0,
                     shared: bool = True) -> tuple[plt.Figure, dict[str, np.ndarray]]:
    """Figure 6: reference frames (top) and their cycle-ERFs for baseline and cyclic, target = first frame.

    Returns:
        the figure (:func:`erfkit.viz.paper.draw_cycle_erf`) and ``{"baseline": [L, K, H, W], "cyclic": ...}`` maps.
    """
    maps = cycle_erf_maps(dataset, baseline, cyclic, sequence, references, steps, rate, target)
    seq = dataset[sequence]
    gt_t = seq.read_annotation(target)
    ids = [int(o) for o in np.unique(gt_t) if o not in (0, 255)]
    frames = [seq.read_frame(t) for t in references]
    masks = [np.isin(seq.read_annotation(t), ids) for t in references]
    return draw_cycle_erf(maps, frames, masks, references, shared=shared), maps


# ---------------------------------------------------------------- experiments
def _distractor(ctx: ExperimentContext) -> str:
    """The video of Figures 1 and 6, picked once per context among its videos (2 candidates when quick)."""
    if "distractor" not in ctx.cache:
        ctx.cache["distractor"] = pick_distractor_video(ctx.dataset, ctx.baseline, 2 if ctx.quick else None,
                                                        ctx.names)
    return ctx.cache["distractor"]


def fig1(ctx: ExperimentContext) -> list[dict]:
    """Write ``fig1_error_propagation`` (PNG + PDF); no table."""
    with paper_style():
        fig, _ = error_propagation(ctx.dataset, ctx.baseline, ctx.cyclic, _distractor(ctx))
        save_figure(fig, ctx.out / FIGURE_FILES["fig1"])
    return []


def fig5(ctx: ExperimentContext) -> list[dict]:
    """Write ``fig5_qualitative`` (PNG + PDF): the first 3 videos (1 when quick); no table."""
    with paper_style():
        fig = qualitative(ctx.dataset, ctx.baseline, ctx.cyclic, ctx.names[:1 if ctx.quick else 3])
        save_figure(fig, ctx.out / FIGURE_FILES["fig5"])
    return []


def fig6(ctx: ExperimentContext) -> list[dict]:
    """Write ``fig6_cycle_erf`` (PNG + PDF): 6 reference frames, 50 steps (4 and 10 when quick); no table."""
    seq = _distractor(ctx)
    n = len(ctx.dataset[seq])
    refs = [int(t) for t in np.linspace(n // 6, n - 1, 4 if ctx.quick else 6).round()]
    with paper_style():
        fig, _ = cycle_erf_figure(ctx.dataset, ctx.baseline, ctx.cyclic, seq, refs, steps=10 if ctx.quick else 50)
        save_figure(fig, ctx.out / FIGURE_FILES["fig6"])
    return []
