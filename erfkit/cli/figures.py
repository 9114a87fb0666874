"""Deprecated: use ``erfkit experiment NAMES`` (same outputs, same file names).

``erfkit figures --out DIR [--only A,B] [--small]`` runs
``erfkit experiment A,B --out DIR [--small]`` (default: fig1, fig6, fig5,
fig3, fig4, table3, table4, table5) and lists the files written.

Examples:
  erfkit experiment fig1,fig5,fig6 --out figures          (was: erfkit figures --out figures --only fig1,fig5,fig6)
  erfkit experiment fig1,fig6,fig5,fig3,fig4,table3,table4,table5 --out /tmp/f --small
"""

from __future__ import annotations

import argparse
import sys

HELP = "deprecated alias of `erfkit experiment` (the paper's figures and tables)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..dashboard.settings import SPRITE_CHECKPOINTS

    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None, help="dataset (default: the synthetic benchmark, made if missing)")
    p.add_argument("--baseline", default=str(SPRITE_CHECKPOINTS[0]))
    p.add_argument("--cyclic", default=str(SPRITE_CHECKPOINTS[1]))
    p.add_argument("--split", default="val")
    p.add_argument("--small", action="store_true", help="a few CPU minutes: 2 videos, quick grids, 10 ERF steps")
    p.add_argument("--only", default=None,
                   help="comma-separated subset of fig1, fig6, fig5, fig3, fig4, table3, table4, table5 (default: all)")
    p.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from ..experiments.paper import FIGURES
    from .experiment import run_names

    names = args.only or ",".join(FIGURES)
    print(f"erfkit: `erfkit figures` is deprecated; use `erfkit experiment {names}`", file=sys.stderr)
    return run_names(names, data=args.data, baseline=args.baseline, cyclic=args.cyclic, out=args.out,
                     split=args.split, small=args.small, device=args.device, list_paths=True)
