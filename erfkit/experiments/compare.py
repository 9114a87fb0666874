"""The comparison report of two explanation stores: ``report.csv``, ``report.html`` (offline) and its figures.

::

    write_comparison(DatasetStore("atlas/baseline"), DatasetStore("atlas/cyclic"), "report/")

The HTML embeds its figures (PNG, base64), so it opens offline; the figures
are also written as PNG and PDF beside it.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
from pathlib import Path

import matplotlib.pyplot as plt

from ..explain.compare import REPORT_COLUMNS, PairedDifference, compare_stores
from ..explain.dataset import DatasetStore
from ..files import atomic_write_text
from ..viz.compare import draw_distributions, draw_per_video_differences
from ..viz.style import paper_style, save_figure

__all__ = ["write_comparison"]


def _csv(results: list[PairedDifference]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, REPORT_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in results:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.row().items()})
    return buf.getvalue()


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _html(a: DatasetStore, b: DatasetStore, results: list[PairedDifference], images: dict[str, str]) -> str:
    def num(v: float) -> str:
        return "" if v != v else f"{v:.4g}"

    head = "".join(f"<th>{html.escape(c)}</th>" for c in REPORT_COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.row()[c]) if c in ('metric', 'n') else num(r.row()[c]))}</td>"
                         for c in REPORT_COLUMNS) + "</tr>" for r in results)
    figs = "".join(f"<h2>{html.escape(t)}</h2><img alt='{html.escape(t)}' src='data:image/png;base64,{d}'>"
                   for t, d in images.items())
    ia, ib = a.identity, b.identity
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>erfkit: baseline against cyclic</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;font-size:14px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
td:first-child{{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>Baseline against cyclic</h1>
<p>Baseline: {html.escape(str(ia['checkpoint'].get('label')))} ({html.escape(str(a.path))}).
Cyclic: {html.escape(str(ib['checkpoint'].get('label')))} ({html.escape(str(b.path))}).
{len(ia['sequences'])} videos of {html.escape(str(ia['data']))} ({html.escape(str(ia['split']))}), input size
{html.escape(str(ia['size']))}.</p>
<p>Difference: cyclic - baseline, the mean over the units both hold (sequence, frame, object).
95% confidence interval: percentile bootstrap resampling videos (frames of one video are not independent).
p-value: two-sided sign test on the videos' mean differences.</p>
<table><tr>{head}</tr>{body}</table>{figs}</body></html>
"""


def write_comparison(baseline: DatasetStore, cyclic: DatasetStore, out: str | os.PathLike, *, reps: int = 2000,
                     seed: int = 0) -> list[Path]:
    """Write ``out/report.csv``, ``out/report.html`` and the figures (PNG + PDF); the files written.

    Raises:
        DataError: stores that cannot be compared (see :func:`erfkit.explain.compare.comparable`).
    """
    results = compare_stores(baseline, cyclic, reps=reps, seed=seed)
    out = Path(out)
    written = []
    atomic_write_text(out / "report.csv", _csv(results))
    written.append(out / "report.csv")
    main = [r for r in results if r.metric.startswith("cycle/") and r.pairs is not None] or results[:4]
    images = {}
    with paper_style():
        figures = {
            "per-video differences (cycle-ERF)": ("per_video_differences", draw_per_video_differences(
                {r.metric: r.per_video for r in main},
                {r.metric: (r.difference, r.ci_low, r.ci_high) for r in main})),
            "distributions over the units (cycle-ERF)": ("distributions", draw_distributions(
                {r.metric: r.pairs for r in main})),
        }
        for title, (name, fig) in figures.items():
            images[title] = _png(fig)
            written += save_figure(fig, out / name)
    atomic_write_text(out / "report.html", _html(baseline, cyclic, results, images))
    written.append(out / "report.html")
    return written
