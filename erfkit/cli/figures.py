"""Write the paper's figures (PNG and PDF) and tables from a dataset and two checkpoints.

fig1_error_propagation, fig3, fig4, fig5_qualitative, fig6_cycle_erf and
table3-5 (markdown + CSV), the same figures the notebooks show.

Examples:
  erfkit figures --out figures
  erfkit figures --out /tmp/f --small
  erfkit figures --out figures --only fig1,fig6
"""

from __future__ import annotations

import argparse

HELP = "the paper's figures and tables (PNG + PDF) from the command line"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .dashboard import DEFAULT_CHECKPOINTS

    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None, help="dataset (default: the synthetic benchmark, made if missing)")
    p.add_argument("--baseline", default=str(DEFAULT_CHECKPOINTS[0]))
    p.add_argument("--cyclic", default=str(DEFAULT_CHECKPOINTS[1]))
    p.add_argument("--split", default="val")
    p.add_argument("--small", action="store_true", help="a few CPU minutes: 2 videos, quick grids, 10 ERF steps")
    p.add_argument("--only", default=None,
                   help="comma-separated subset of fig1, fig6, fig5, fig3, fig4, table3, table4, table5 (default: all)")
    p.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data.synth import default_synth_root, make_synth
    from ..model.checkpoint import load_checkpoint
    from ..viz.paper import write_all

    data = Path(args.data) if args.data else default_synth_root()
    if args.data is None and not (data / "ImageSets").is_dir():
        print(f"making the default synthetic benchmark in {data} ...", flush=True)
        make_synth(data, "default", force=data.exists())
    baseline = load_checkpoint(args.baseline, device=args.device)
    cyclic = load_checkpoint(args.cyclic, device=args.device)
    written = write_all(data, baseline, cyclic, args.out, small=args.small, split=args.split,
                        only=args.only.split(",") if args.only else None)
    for p in written:
        print(p)
    return 0
