"""The paper's experiments (Tables 3-5, Figures 3-4) as functions that write tables and plots.

Each experiment runs settings over a split (in memory), scores them with the
official DAVIS protocol, and writes ``<name>.md`` (our numbers beside the
paper's DAVIS 2017 val numbers), ``<name>.csv`` and, for figures,
``<name>.png``/``<name>.pdf``.  Our numbers come from whatever data and
checkpoints are given (by default the synthetic benchmark and the shipped
``stm-tiny`` models), so they are not expected to equal the paper's: the
tables put them side by side to compare directions and sizes of effects.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..data.davis import DavisDataset
from ..errors import ConfigError
from ..files import atomic_write_text
from ..inference.correction import GCConfig
from ..model.stm import STM
from ..viz.plots import plot_against_iterations, plot_against_rate
from ..viz.style import paper_style, save_figure
from .runs import RunScore, Setting, bounding_box_masks, model_masks, run_setting

__all__ = ["EXPERIMENTS", "PAPER", "ExperimentContext", "run_experiment"]

#: DAVIS 2017 val numbers of the paper (percent): (J, F, J&F) or (baseline, cyclic) J&F.
PAPER = {
    "table3": {"baseline": (67.6, 71.7, 69.7), "+cyclic": (68.7, 74.7, 71.7), "+GC": (67.8, 72.8, 70.3),
               "both": (69.3, 75.3, 72.3)},
    "table4": {"first": (65.2, 67.6), "previous": (56.8, 61.2), "first+previous": (67.3, 69.2), "mem": (69.7, 71.7)},
    "table5": {"baseline predict": (65.9, 72.2, 69.1), "baseline predict + GC": (66.9, 73.3, 70.1),
               "bounding box": (63.0, 66.0, 64.5), "bounding box + GC": (68.7, 74.9, 71.8)},
    "fps": {"offline": 38.0, "gc": 9.3},
}

#: the paper's gradient correction: N = 10 steps every K = 5 frames, rate 180 (the authors' code)
PAPER_GC = GCConfig(iters=10, rate=180.0, every=5)


@dataclass
class ExperimentContext:
    """What every experiment needs."""

    dataset: DavisDataset
    names: list[str]
    baseline: STM
    cyclic: STM
    out: Path
    quick: bool = False
    progress: bool = True

    def run(self, setting: Setting) -> RunScore:
        return run_setting(setting, self.dataset, self.names, progress=self.progress)


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def _paired(a: RunScore, b: RunScore) -> tuple[int, int]:
    """In how many objects ``b``'s J&F beats ``a``'s (same videos, paired), and the number of objects."""
    ja = [(st["J-Mean"] + st["F-Mean"]) / 2 for _, st in a.results.per_object()]
    jb = [(st["J-Mean"] + st["F-Mean"]) / 2 for _, st in b.results.per_object()]
    return sum(y > x for x, y in zip(ja, jb)), len(ja)


def _markdown(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def _write(ctx: ExperimentContext, name: str, title: str, headers: list[str], rows: list[list[Any]],
           csv_rows: list[dict], note: str) -> None:
    md = f"## {title}\n\n{_markdown(headers, rows)}\n{note}\n"
    atomic_write_text(ctx.out / f"{name}.md", md)
    buf = io.StringIO()
    w = csv.DictWriter(buf, list(csv_rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(csv_rows)
    atomic_write_text(ctx.out / f"{name}.csv", buf.getvalue())


def _data_note(ctx: ExperimentContext) -> str:
    return (f"Ours: {len(ctx.names)} videos of split `{ctx.dataset.split}` of `{ctx.dataset.root}`, "
            "J/F/J&F in percent (official DAVIS protocol), FPS of the model on this machine. "
            "Paper: DAVIS 2017 val, ResNet-50, TITAN Xp.")


def table3(ctx: ExperimentContext) -> list[dict]:
    """Baseline / +cyclic / +GC / both."""
    settings = [("baseline", Setting("baseline", ctx.baseline)), ("+cyclic", Setting("+cyclic", ctx.cyclic)),
                ("+GC", Setting("+GC", ctx.baseline, gc=PAPER_GC)), ("both", Setting("both", ctx.cyclic, gc=PAPER_GC))]
    runs = [(key, ctx.run(s)) for key, s in settings]
    base = runs[0][1]
    rows, csv_rows = [], []
    for key, r in runs:
        wins, n = _paired(base, r)
        p = PAPER["table3"][key]
        rows.append([key, _pct(r.J), _pct(r.F), _pct(r.JF), "" if r is base else f"{wins}/{n}", f"{r.fps:.1f}",
                     p[0], p[1], p[2]])
        csv_rows.append({**r.row(), "objects_better_than_baseline": wins, "objects": n,
                         "paper_J": p[0], "paper_F": p[1], "paper_JF": p[2]})
    _write(ctx, "table3", "Table 3: effect of cyclic training and gradient correction (N=10, K=5)",
           ["setting", "J", "F", "J&F", "objects better", "FPS", "paper J", "paper F", "paper J&F"], rows,
           csv_rows, _data_note(ctx) + " Objects better: in how many objects the setting's J&F beats the "
           f"baseline's (paired, same videos). Paper FPS: {PAPER['fps']['offline']} offline, "
           f"{PAPER['fps']['gc']} with GC.")
    return csv_rows


def table4(ctx: ExperimentContext) -> list[dict]:
    """Reference sets first, previous, first+previous, mem; baseline vs cyclic and the gain."""
    rows, csv_rows = [], []
    for strategy in ("first", "previous", "first+previous", "mem"):
        b = ctx.run(Setting(f"baseline {strategy}", ctx.baseline, memory=strategy))
        c = ctx.run(Setting(f"cyclic {strategy}", ctx.cyclic, memory=strategy))
        pb, pc = PAPER["table4"][strategy]
        wins, n = _paired(b, c)
        rows.append([strategy, _pct(b.JF), _pct(c.JF), f"{100 * (c.JF - b.JF):+.1f}", f"{wins}/{n}", pb, pc,
                     f"{pc - pb:+.1f}"])
        csv_rows.append({"reference_set": strategy, "baseline_JF": b.JF, "cyclic_JF": c.JF, "gain": c.JF - b.JF,
                         "objects_cyclic_better": wins, "objects": n,
                         "paper_baseline": pb, "paper_cyclic": pc, "paper_gain": round(pc - pb, 1)})
    _write(ctx, "table4", "Table 4: J&F with different reference sets",
           ["reference set", "baseline", "+cycle", "gain", "objects better", "paper baseline", "paper +cycle",
            "paper gain"], rows, csv_rows,
           _data_note(ctx) + " Objects better: in how many objects +cycle's J&F beats the baseline's (paired).")
    return csv_rows


def table5(ctx: ExperimentContext) -> list[dict]:
    """Low-quality memory masks (cyclic model, mem): the baseline's prediction, GT bounding boxes; +/- GC."""
    settings = [
        ("baseline predict", Setting("baseline predict", ctx.cyclic, memory_masks=model_masks(ctx.baseline))),
        ("baseline predict + GC", Setting("baseline predict + GC", ctx.cyclic, gc=PAPER_GC,
                                          memory_masks=model_masks(ctx.baseline))),
        ("bounding box", Setting("bounding box", ctx.cyclic, memory_masks=bounding_box_masks)),
        ("bounding box + GC", Setting("bounding box + GC", ctx.cyclic, gc=PAPER_GC, memory_masks=bounding_box_masks)),
    ]
    rows, csv_rows = [], []
    for key, s in settings:
        r = ctx.run(s)
        p = PAPER["table5"][key]
        rows.append([key, _pct(r.J), _pct(r.F), _pct(r.JF), p[0], p[1], p[2]])
        csv_rows.append({**r.row(), "paper_J": p[0], "paper_F": p[1], "paper_JF": p[2]})
    _write(ctx, "table5", "Table 5: low-quality masks put into memory (cyclic model, mem strategy)",
           ["memory masks", "J", "F", "J&F", "paper J", "paper F", "paper J&F"], rows, csv_rows,
           _data_note(ctx) + " The written output is the model's own prediction; only what goes into memory "
           "is replaced (and corrected with GC).")
    return csv_rows


def fig3(ctx: ExperimentContext) -> list[dict]:
    """J&F and FPS against the number of correction steps N."""
    ns = (0, 5, 10) if ctx.quick else (0, 1, 2, 5, 10, 20)
    series: dict[str, list[tuple[float, float, float]]] = {}
    csv_rows, rows = [], []
    for label, model in (("baseline", ctx.baseline), ("cyclic", ctx.cyclic)):
        for n in ns:
            r = ctx.run(Setting(f"{label} N={n}", model, gc=GCConfig(iters=n, rate=PAPER_GC.rate, every=5)))
            series.setdefault(label, []).append((n, r.JF, r.fps))
            csv_rows.append({"model": label, "N": n, "J": r.J, "F": r.F, "J&F": r.JF, "FPS": r.fps})
            rows.append([label, n, _pct(r.JF), f"{r.fps:.1f}"])
    with paper_style():
        save_figure(plot_against_iterations(series), ctx.out / "fig3")
    _write(ctx, "fig3", "Figure 3: J&F and speed against the number of correction steps N (K=5, alpha=180)",
           ["model", "N", "J&F", "FPS"], rows, csv_rows,
           _data_note(ctx) + " Paper: J&F saturates near N = 10; FPS falls from 38 to 9.3 at N = 10.")
    return csv_rows


def fig4(ctx: ExperimentContext) -> list[dict]:
    """J&F against the correction rate alpha (N = 10, K = 5)."""
    rates = (30.0, 180.0, 1000.0) if ctx.quick else (10.0, 30.0, 100.0, 180.0, 300.0, 1000.0)
    series: dict[str, list[tuple[float, float]]] = {}
    csv_rows, rows = [], []
    for label, model in (("baseline", ctx.baseline), ("cyclic", ctx.cyclic)):
        for a in rates:
            r = ctx.run(Setting(f"{label} alpha={a:g}", model, gc=GCConfig(iters=PAPER_GC.iters, rate=a, every=5)))
            series.setdefault(label, []).append((a, r.JF))
            csv_rows.append({"model": label, "alpha": a, "J": r.J, "F": r.F, "J&F": r.JF})
            rows.append([label, f"{a:g}", _pct(r.JF)])
    with paper_style():
        save_figure(plot_against_rate(series), ctx.out / "fig4")
    _write(ctx, "fig4", "Figure 4: J&F against the correction rate alpha (N=10, K=5)", ["model", "alpha", "J&F"],
           rows, csv_rows, _data_note(ctx) + " Paper: results are insensitive to alpha.")
    return csv_rows


def cycle_erf(ctx: ExperimentContext) -> list[dict]:
    """Cycle-ERF (and classic ERF, saliency) metrics of baseline against cyclic (see :mod:`.erf_study`)."""
    from .erf_study import cycle_erf_study

    return cycle_erf_study(ctx)


EXPERIMENTS: dict[str, Callable[[ExperimentContext], list[dict]]] = {
    "table3": table3, "table4": table4, "table5": table5, "fig3": fig3, "fig4": fig4, "cycle_erf": cycle_erf}


def run_experiment(name: str, data: str | os.PathLike, baseline: STM, cyclic: STM, out: str | os.PathLike, *,
                   split: str = "val", sequences: int | list[str] | None = None, quick: bool = False,
                   progress: bool = True) -> list[dict]:
    """Run one experiment (or ``all``) and write its table/plots into ``out``.

    Args:
        name: ``table3``, ``table4``, ``table5``, ``fig3``, ``fig4`` or ``all``.
        data: DAVIS-layout dataset with ground truth for the split.
        baseline, cyclic: the two models.
        out: output folder.
        split: the split evaluated.
        sequences: a number (the first N videos) or a list of names (default: all).
        quick: fewer values of N and alpha (for tests and notebooks).

    Returns:
        the CSV rows written (for ``all``: every experiment's, concatenated).
    """
    names = list(EXPERIMENTS) if name == "all" else [name]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ConfigError(f"unknown experiment {unknown[0]!r}; choose from {', '.join(EXPERIMENTS)} or all")
    ds = DavisDataset(data, split)
    if sequences is None:
        seqs = list(ds.names)
    elif isinstance(sequences, int):
        seqs = list(ds.names[:sequences])
    else:
        seqs = list(sequences)
        missing = [s for s in seqs if s not in ds.names]
        if missing:
            raise ConfigError(f"not in split {split!r}: {', '.join(missing)}")
    ctx = ExperimentContext(ds, seqs, baseline, cyclic, Path(out), quick, progress)
    ctx.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for n in names:
        rows += EXPERIMENTS[n](ctx)
    return rows
