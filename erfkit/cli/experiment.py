"""Run the paper's experiments and figures: markdown tables, CSV and plots (PNG + PDF).

NAME is one of, or a comma-separated list of:
  table3     baseline / +cyclic / +GC / both
  table4     reference sets
  table5     low-quality memory masks
  fig1       error propagation on a distractor video (fig1_error_propagation)
  fig3       J&F and FPS against N
  fig4       J&F against alpha
  fig5       qualitative results (fig5_qualitative)
  fig6       cycle-ERFs of both models (fig6_cycle_erf)
  cycle_erf  map metrics of baseline against cyclic, the paper's Figure 6 claim
  all        every one of them

Without --data, the default synthetic benchmark is used (made if missing);
without --baseline/--cyclic, the shipped checkpoints.

Examples:
  erfkit experiment table3 --out results
  erfkit experiment fig1,fig5,fig6 --out results/figures --small
  erfkit experiment fig3 --data data/synth --baseline B --cyclic C --out results --sequences 5 --quick
"""

from __future__ import annotations

import argparse

HELP = "the paper's tables and figures (Tables 3-5, Figures 1, 3-6) on a dataset"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..dashboard.settings import SPRITE_CHECKPOINTS

    p.add_argument("name", help="table3, table4, table5, fig1, fig3, fig4, fig5, fig6, cycle_erf or all "
                                "(comma-separated for several)")
    p.add_argument("--data", default=None, help="dataset (default: the synthetic benchmark, made if missing)")
    p.add_argument("--baseline", default=str(SPRITE_CHECKPOINTS[0]), help="baseline checkpoint (default: the sprite pair)")
    p.add_argument("--cyclic", default=str(SPRITE_CHECKPOINTS[1]), help="cyclic checkpoint (default: the sprite pair)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--split", default="val")
    p.add_argument("--sequences", default=None, help="a number (the first N videos) or comma-separated names")
    p.add_argument("--quick", "--small", dest="quick", action="store_true",
                   help="a few CPU minutes: 1-2 videos (unless --sequences), quick N/alpha grids, 10 ERF steps")
    p.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    return run_names(args.name, data=args.data, baseline=args.baseline, cyclic=args.cyclic, out=args.out,
                     split=args.split, sequences=args.sequences, small=args.quick, device=args.device)


def run_names(names: str, *, data: str | None, baseline: str, cyclic: str, out: str, split: str = "val",
              sequences: str | None = None, small: bool = False, device: str = "auto",
              list_paths: bool = False) -> int:
    """Check ``names``, make the default data if needed, load the checkpoints, write, report.

    Reports each table's markdown and the paths of the figures without one
    (``list_paths``: every file written, one path a line).
    """
    from pathlib import Path

    from ..data.synth import default_synth_root, make_synth
    from ..experiments.paper import experiment_names, write_all
    from ..model.checkpoint import load_stm

    wanted = experiment_names(names)  # unknown names fail before anything is loaded
    seqs: int | list[str] | None = None
    if sequences:
        seqs = int(sequences) if sequences.isdigit() else [s.strip() for s in sequences.split(",") if s.strip()]
    root = Path(data) if data else default_synth_root()
    if data is None and not (root / "ImageSets").is_dir():
        print(f"making the default synthetic benchmark in {root} ...", flush=True)
        make_synth(root, "default", force=root.exists())
    b = load_stm(baseline, "erfkit experiment", device=device)
    c = load_stm(cyclic, "erfkit experiment", device=device)
    written = write_all(root, b, c, out, small=small, split=split, only=wanted, sequences=seqs)
    if list_paths:
        for p in written:
            print(p)
        return 0
    tables = {p.stem for p in written if p.suffix == ".md"}
    for p in written:
        if p.suffix == ".md":
            print(p.read_text(encoding="utf-8"))
        elif p.stem not in tables:
            print(p)
    return 0
