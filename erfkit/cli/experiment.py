"""Run one of the paper's experiments and write its markdown table, CSV and plots.

NAME is table3 (baseline / +cyclic / +GC / both), table4 (reference sets),
table5 (low-quality memory masks), fig3 (J&F and FPS against N), fig4 (J&F
against alpha), cycle_erf (map metrics of baseline against cyclic, the
paper's Figure 6 claim), or all.

Examples:
  erfkit experiment table3 --data data/synth --baseline checkpoints/stm-tiny-baseline --cyclic checkpoints/stm-tiny-cyclic --out results
  erfkit experiment fig3 --data data/synth --baseline B --cyclic C --out results --sequences 5 --quick
"""

from __future__ import annotations

import argparse

HELP = "the paper's Tables 3-5 and Figures 3-4 on a dataset"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="table3, table4, table5, fig3, fig4, cycle_erf or all")
    p.add_argument("--data", required=True)
    p.add_argument("--baseline", required=True, help="baseline checkpoint")
    p.add_argument("--cyclic", required=True, help="cyclic checkpoint")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--split", default="val")
    p.add_argument("--sequences", default=None, help="a number (the first N videos) or comma-separated names")
    p.add_argument("--quick", action="store_true", help="fewer values of N and alpha")
    p.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..experiments import run_experiment
    from ..model.checkpoint import load_checkpoint

    seqs = None
    if args.sequences:
        seqs = int(args.sequences) if args.sequences.isdigit() else [s.strip() for s in args.sequences.split(",")]
    baseline = load_checkpoint(args.baseline, device=args.device)
    cyclic = load_checkpoint(args.cyclic, device=args.device)
    run_experiment(args.name, args.data, baseline, cyclic, args.out, split=args.split, sequences=seqs,
                   quick=args.quick)
    out = Path(args.out)
    for md in sorted(out.glob("*.md")):
        if args.name in ("all", md.stem):
            print(md.read_text(encoding="utf-8"))
    return 0
