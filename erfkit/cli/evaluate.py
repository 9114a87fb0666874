"""Evaluate results with the official DAVIS 2017 semi-supervised protocol (J&F).

Needs only ROOT/Annotations and ROOT/ImageSets.  Writes global_results-<split>.csv
and per-sequence_results-<split>.csv into the results folder and prints the table.
With --youtube, scores a YouTube-VOS-layout split instead (J/F seen and unseen, G).

Examples:
  erfkit eval --data data/synth --results runs/res --split val
  erfkit eval --data ytvos --results res --youtube --split train --seen cat,dog,person
"""

from __future__ import annotations

import argparse
import time

HELP = "J&F with the official DAVIS 2017 protocol (or YouTube-VOS seen/unseen)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="dataset root")
    p.add_argument("--results", required=True, help="folder of <sequence>/<frame>.png results")
    p.add_argument("--split", default=None, help="ImageSets/2017 list (default val; YouTube-VOS: train)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    p.add_argument("--resolution", default=None, help="annotation resolution folder (found when only one)")
    p.add_argument("--youtube", action="store_true", help="YouTube-VOS layout and seen/unseen scores")
    p.add_argument("--seen", default="", help="comma-separated seen categories (with --youtube)")
    p.add_argument("--seen-file", default=None, help="file with one seen category a line (with --youtube)")


def run(args: argparse.Namespace) -> int:
    if args.youtube:
        from pathlib import Path

        from ..errors import DataError
        from ..evaluation.youtube import evaluate_youtube

        seen = {c.strip() for c in args.seen.split(",") if c.strip()}
        if args.seen_file:
            p = Path(args.seen_file)
            if not p.is_file():
                raise DataError("seen-categories file not found", p)
            seen |= {ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()}
        scores = evaluate_youtube(args.data, args.results, seen, args.split or "train")
        print(scores.table())
        return 0
    from ..evaluation.davis import evaluate_davis

    split = args.split or "val"
    t0 = time.perf_counter()
    results = evaluate_davis(args.data, args.results, split, workers=args.workers, resolution=args.resolution)
    g, s = results.write_csv(args.results)
    print(results.table())
    print(f"\n{len(results.per_object())} objects in {len(results.sequences)} sequences, "
          f"{time.perf_counter() - t0:.2f} s; wrote {g} and {s}")
    return 0
