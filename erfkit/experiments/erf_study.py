"""Does cyclic training make the model look at the object? (the paper's Figure 6 claim, measured)

For every video of the split and both checkpoints, an atlas is built on every
4th frame (target = the first frame): cycle-ERF, classic ERF (query and
memory) and Saliency, with the map metrics of :mod:`erfkit.explain.metrics`
(energy inside the object, pointing game, area50, deletion/insertion AUC on
every computed frame, the weight-randomisation check on every other one).
The frame the target itself is on (frame 0) is left out of the averages.

For each map kind and metric: the mean over a video's frames and objects,
then the mean and standard deviation over videos for each checkpoint, and the
paired per-video difference cyclic - baseline (mean, standard deviation, and
in how many videos it is positive).  One more number is added to the paper's
metrics: ``border``, the share of a map's mass within 8 pixels of the image
border, because the small models' cycle-ERFs gather there.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np

from ..explain.atlas import AtlasConfig, build_atlas
from ..files import atomic_write_text
from ..viz.style import COLORS, paper_style, save_figure
from .context import ExperimentContext

__all__ = ["cycle_erf_study", "border_share"]

METRICS = ["energy", "pointing", "area50", "deletion", "insertion", "sanity", "border"]


def border_share(m: np.ndarray, width: int = 8) -> float:
    """Share of a map's mass within ``width`` pixels of the image border (``nan`` for a zero map)."""
    a = np.clip(np.asarray(m, dtype=np.float64), 0, None)
    total = a.sum()
    if not total > 0:
        return float("nan")
    inner = a[width:-width, width:-width].sum()
    return float((total - inner) / total)


def cycle_erf_study(ctx: ExperimentContext) -> list[dict]:
    """Run the study for ``ctx`` (an :class:`~erfkit.experiments.paper.ExperimentContext`)."""
    step = 8 if ctx.quick else 4
    cfg = AtlasConfig(steps=10 if ctx.quick else 50, metrics_every=step, sanity_every=2 * step,
                      deletion_steps=5 if ctx.quick else 10)
    per_video: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for label, model in (("baseline", ctx.baseline), ("cyclic", ctx.cyclic)):
        for name in ctx.names:
            seq = ctx.dataset[name]
            frames = list(range(0, len(seq), step))
            atlas = build_atlas(model, seq, ctx.out / "atlas" / label / name, cfg, frames=frames, label=label,
                                progress=ctx.progress)
            target = seq.frame_name(cfg.target)
            for r in atlas.metrics():
                if r["frame"] == target:
                    continue
                for k in METRICS[:-1]:
                    per_video[(label, r["method"], name)][k].append(r[k])
            for i in frames:
                if i == cfg.target:
                    continue
                maps = atlas.load(i)
                for key in cfg.keys:
                    for m in maps[key]:
                        per_video[(label, key, name)]["border"].append(border_share(m.astype(np.float32)))
    methods = cfg.keys
    video_rows = []
    means: dict[tuple[str, str, str], dict[str, float]] = {}
    for (label, method, name), vals in per_video.items():
        row = {"checkpoint": label, "method": method, "video": name}
        for k in METRICS:
            v = np.asarray(vals.get(k, []), dtype=np.float64)
            row[k] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
        means[(label, method, name)] = row
        video_rows.append(row)
    summary = []
    lines = ["| map | metric | baseline (mean ± std) | cyclic (mean ± std) | cyclic − baseline (mean ± std) | "
             "videos where cyclic is higher |", "|---|---|---|---|---|---|"]
    for method in methods:
        for k in METRICS:
            b = np.array([means[("baseline", method, n)][k] for n in ctx.names])
            c = np.array([means[("cyclic", method, n)][k] for n in ctx.names])
            ok = np.isfinite(b) & np.isfinite(c)
            if not ok.any():
                continue
            d = c[ok] - b[ok]
            summary.append({"map": method, "metric": k, "baseline_mean": float(np.mean(b[ok])),
                            "baseline_std": float(np.std(b[ok])), "cyclic_mean": float(np.mean(c[ok])),
                            "cyclic_std": float(np.std(c[ok])), "diff_mean": float(np.mean(d)),
                            "diff_std": float(np.std(d)), "cyclic_higher": int((d > 0).sum()), "videos": int(ok.sum())})
            s = summary[-1]
            lines.append(f"| {method} | {k} | {s['baseline_mean']:.3f} ± {s['baseline_std']:.3f} | "
                         f"{s['cyclic_mean']:.3f} ± {s['cyclic_std']:.3f} | {s['diff_mean']:+.3f} ± "
                         f"{s['diff_std']:.3f} | {s['cyclic_higher']} / {s['videos']} |")
    note = (f"{len(ctx.names)} videos of split `{ctx.dataset.split}` of `{ctx.dataset.root}`; maps on every "
            f"{step}th frame (frame 0, the target, left out), M = {cfg.steps}, alpha = {cfg.rate:g}. "
            "energy: share of the map inside the object on its frame; pointing: the maximum lies on the object; "
            "area50: RepLKNet's high-contribution area ratio at 0.5 (map as log10(1 + m) / max; the smallest "
            "square from side 3, centred on the object, holding more than half of it, over the frame's area); "
            "deletion/insertion: AUC of the object's IoU as the map's pixels are removed/inserted (lower/higher "
            "is more faithful); sanity: rank correlation with the map of a randomly re-initialised model (lower "
            "is better); border: share within 8 pixels of the image border.")
    atomic_write_text(ctx.out / "cycle_erf.md", "## Cycle-ERF and other maps: baseline against cyclic\n\n"
                      + "\n".join(lines) + "\n\n" + note + "\n")
    for name, rows in (("cycle_erf.csv", summary), ("cycle_erf_per_video.csv", video_rows)):
        buf = io.StringIO()
        w = csv.DictWriter(buf, list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(ctx.out / name, buf.getvalue())
    with paper_style():
        fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.6))
        for ax, k in zip(axes, ("energy", "border")):
            b = [means[("baseline", "cycle", n)][k] for n in ctx.names]
            c = [means[("cyclic", "cycle", n)][k] for n in ctx.names]
            for bi, ci in zip(b, c):
                ax.plot([0, 1], [bi, ci], color=COLORS["other"], alpha=0.35, linewidth=0.8)
            ax.scatter(np.zeros(len(b)), b, color=COLORS["baseline"], s=12, zorder=3)
            ax.scatter(np.ones(len(c)), c, color=COLORS["cyclic"], s=12, zorder=3)
            ax.set_xticks([0, 1], ["baseline", "cyclic"])
            ax.set_xlim(-0.4, 1.4)
            ax.set_ylabel(f"cycle-ERF {k} (per video)")
        fig.tight_layout()
        save_figure(fig, ctx.out / "cycle_erf")
    return summary
