"""The paper's experiments (Tables 3-5, Figures 1 and 3-6) as functions that write tables and plots.

Each table experiment runs settings over a split (in memory), scores them with
the official DAVIS protocol, and writes ``<name>.md`` (our numbers beside the
paper's DAVIS 2017 val numbers), ``<name>.csv`` and, for figures,
``<name>.png``/``<name>.pdf``.  Figures 1, 5 and 6 (:mod:`.figures`) write
``fig1_error_propagation``, ``fig5_qualitative`` and ``fig6_cycle_erf`` (PNG +
PDF).  Our numbers come from whatever data and checkpoints are given (by
default the synthetic benchmark and the shipped ``stm-tiny`` models), so they
are not expected to equal the paper's: the tables put them side by side to
compare directions and sizes of effects.

:func:`run_experiment` runs one or more of :data:`EXPERIMENTS` on one set of
videos; :func:`write_all` is what ``erfkit experiment`` runs (small settings
included).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from ..data.davis import DavisDataset
from ..errors import ConfigError
from ..files import atomic_write_text
from ..inference.correction import GCConfig
from ..model.stm import STM
from ..viz.plots import plot_against_iterations, plot_against_rate
from ..viz.style import paper_style, save_figure
from .context import PAPER, PAPER_GC, ExperimentContext
from .erf_study import cycle_erf_study
from .figures import FIGURE_FILES, fig1, fig5, fig6
from .runs import RunScore, Setting, bounding_box_masks, model_masks

__all__ = ["EXPERIMENTS", "FIGURES", "PAPER", "PAPER_GC", "ExperimentContext", "run_experiment", "write_all",
           "experiment_names"]

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


EXPERIMENTS: dict[str, Callable[[ExperimentContext], list[dict]]] = {
    "table3": table3, "table4": table4, "table5": table5, "fig1": fig1, "fig3": fig3, "fig4": fig4, "fig5": fig5,
    "fig6": fig6, "cycle_erf": cycle_erf_study}

#: the experiments that only draw a figure (no table): they pick their videos themselves
FIGURE_ONLY = ("fig1", "fig5", "fig6")

#: what :func:`write_all` writes by default, in order (every experiment but the slow ``cycle_erf`` study)
FIGURES = ("fig1", "fig6", "fig5", "fig3", "fig4", "table3", "table4", "table5")


def experiment_names(name: str | Sequence[str]) -> list[str]:
    """``"fig1,table3"``, ``["fig1", "table3"]`` or ``"all"`` -> the experiments' names, checked, without repeats.

    Raises:
        ConfigError: an unknown name.
    """
    parts = [p.strip() for p in (name.split(",") if isinstance(name, str) else name) if p.strip()]
    names: list[str] = []
    for p in parts:
        for n in (list(EXPERIMENTS) if p == "all" else [p]):
            if n not in EXPERIMENTS:
                raise ConfigError(f"unknown experiment {n!r}; choose from {', '.join(EXPERIMENTS)} or all")
            if n not in names:
                names.append(n)
    if not names:
        raise ConfigError(f"no experiment named; choose from {', '.join(EXPERIMENTS)} or all")
    return names


def run_experiment(name: str | Sequence[str], data: str | os.PathLike, baseline: STM, cyclic: STM,
                   out: str | os.PathLike, *, split: str = "val", sequences: int | list[str] | None = None,
                   quick: bool = False, progress: bool = True) -> list[dict]:
    """Run one experiment (or several, or ``all``) and write its table/plots into ``out``.

    Args:
        name: ``table3``, ``table4``, ``table5``, ``fig1``, ``fig3``, ``fig4``,
            ``fig5``, ``fig6``, ``cycle_erf``, a comma-separated list or a list
            of them, or ``all``.
        data: DAVIS-layout dataset with ground truth for the split.
        baseline, cyclic: the two models.
        out: output folder.
        split: the split evaluated.
        sequences: a number (the first N videos) or a list of names (default:
            all).  Figures 1 and 6 pick their distractor video among these,
            Figure 5 shows the first 3.
        quick: fewer values of N and alpha, 10 cycle-ERF steps, Figures 1/6
            picking among 2 videos, Figure 5 showing 1 (for tests and notebooks).

    Returns:
        the CSV rows written (for several: every experiment's, concatenated;
        figures 1, 5 and 6 write none).
    """
    names = experiment_names(name)
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


def _outputs(out: Path, name: str) -> list[Path]:
    """The files experiment ``name`` writes in ``out``."""
    if name in FIGURE_ONLY:
        return [p for p in (out / f"{FIGURE_FILES[name]}.png", out / f"{FIGURE_FILES[name]}.pdf") if p.is_file()]
    return sorted(out.glob(f"{name}.*"))


def write_all(data: str | os.PathLike, baseline: STM, cyclic: STM, out: str | os.PathLike, *, small: bool = False,
              split: str = "val", only: str | Sequence[str] | None = None, sequences: int | list[str] | None = None,
              progress: bool = True) -> list[Path]:
    """Write the figures (PNG + PDF) and the tables into ``out``: what ``erfkit experiment`` runs.

    Args:
        data: DAVIS-layout dataset with ground truth for the split.
        baseline, cyclic: the two models.
        out: output folder.
        small: a few CPU minutes: the experiments on the first video, Figures
            1/6 picking among 2 videos, Figure 5 showing 1, the quick N/alpha
            grids, 10 cycle-ERF steps (``quick`` of :func:`run_experiment`);
            default: every video of the split and the paper's settings.
        split: the split evaluated.
        only: names of :data:`EXPERIMENTS` (a list, comma-separated, or ``all``;
            default: :data:`FIGURES`, everything but ``cycle_erf``).
        sequences: a number (the first N videos) or names: the videos of every
            experiment, figures included (default: see ``small``).
        progress: show progress bars.

    Returns:
        the files written, figures first (fig1, fig6, fig5), then tables and plots.

    Raises:
        ConfigError: an unknown name.
    """
    wanted = experiment_names(list(FIGURES) if only is None else only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = [n for n in ("fig1", "fig6", "fig5") if n in wanted]
    others = [n for n in wanted if n not in FIGURE_ONLY]
    written: list[Path] = []
    if figures:  # one context: Figures 1 and 6 share their video
        run_experiment(figures, data, baseline, cyclic, out, split=split, sequences=sequences, quick=small,
                       progress=progress)
        for n in figures:
            written += _outputs(out, n)
    if others:
        seqs = sequences if sequences is not None else (1 if small else None)
        run_experiment(others, data, baseline, cyclic, out, split=split, sequences=seqs, quick=small,
                       progress=progress)
        for n in others:
            written += _outputs(out, n)
    return written
