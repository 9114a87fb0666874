"""Baseline against cyclic over a dataset: paired differences of every map metric, with video-level confidence.

Reads two explanation stores written by `erfkit erf` without --sequence (the
same videos and settings; anything else is refused, naming the difference)
and writes R/report.csv (metric, n, baseline, cyclic, difference, ci_low,
ci_high, p_value), R/report.html (offline, figures embedded) and the figures
as PNG and PDF.  CI: 95% bootstrap resampling videos; p: sign test over videos.

Examples:
  erfkit compare atlas/baseline atlas/cyclic --out report
"""

from __future__ import annotations

import argparse

HELP = "paired baseline/cyclic differences of the map metrics over a dataset (CSV + HTML report)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("baseline", help="the baseline's store (erfkit erf --out, without --sequence)")
    p.add_argument("cyclic", help="the cyclic checkpoint's store")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (2000)")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import csv

    from ..explain.dataset import DatasetStore
    from ..experiments.compare import write_comparison

    written = write_comparison(DatasetStore(args.baseline), DatasetStore(args.cyclic), args.out, reps=args.reps,
                               seed=args.seed)
    with open(written[0], newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))))
    for p in written[1:]:
        print(p)
    return 0
