"""Start the Streamlit dashboard: two checkpoints side by side, frame by frame.

With no arguments it uses the default synthetic benchmark (made if missing)
and the two shipped checkpoints.  Maps come from atlases (--atlas, built with
`erfkit erf`) when they match, otherwise they are computed on demand and
cached under --cache.

Examples:
  erfkit dashboard
  erfkit dashboard --data data/synth --checkpoint checkpoints/stm-tiny-baseline --checkpoint checkpoints/stm-tiny-cyclic --atlas atlas/
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ..dashboard.settings import DEFAULT_CHECKPOINTS, DashboardSettings

HELP = "the Streamlit dashboard comparing two checkpoints"

__all__ = ["add_arguments", "run", "settings", "streamlit_command", "DEFAULT_CHECKPOINTS"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DashboardSettings()  # the defaults live there
    p.add_argument("--data", default=None,
                   help=f"DAVIS-layout dataset (default: the synthetic benchmark {d.data}, made if missing)")
    p.add_argument("--split", default=d.split)
    p.add_argument("--checkpoint", action="append", default=None, metavar="CKPT",
                   help="give twice: checkpoint A and checkpoint B (default: the shipped baseline and cyclic)")
    p.add_argument("--atlas", action="append", default=None, metavar="DIR", help="folder(s) holding atlases")
    p.add_argument("--cache", default=d.cache, help="where maps computed on demand are kept")
    p.add_argument("--size", default=d.size, metavar="HxW|native",
                   help="network input size (default: each checkpoint's training size); views are at the file's size")
    p.add_argument("--pseudo-truth", action="store_true",
                   help="the dataset's annotations are pseudo ground truth (e.g. OSVOS masks): every metric says so")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="localhost")


def settings(args: argparse.Namespace) -> DashboardSettings:
    """The page's settings from the arguments, checked here (clear errors now rather than in the browser)."""
    from ..data.davis import DavisDataset
    from ..data.letterbox import parse_size
    from ..data.synth import make_synth
    from ..errors import ConfigError
    from ..model.checkpoint import load_checkpoint

    d = DashboardSettings()
    s = DashboardSettings(data=args.data or d.data, split=args.split,
                          checkpoints=tuple(args.checkpoint or d.checkpoints),  # type: ignore[arg-type]
                          atlas=tuple(args.atlas or ()), cache=args.cache, size=args.size,
                          truth_kind="pseudo ground truth" if args.pseudo_truth else "ground truth").resolved()
    data = Path(s.data)
    if args.data is None and not (data / "ImageSets").is_dir():
        print(f"making the default synthetic benchmark in {data} (about 10-30 s) ...", flush=True)
        make_synth(data, "default", force=data.exists())
    if len(s.checkpoints) != 2:
        raise ConfigError("give --checkpoint exactly twice (A and B), or not at all")
    if s.size != "checkpoint":
        parse_size(s.size)
    DavisDataset(data, s.split)
    for c in s.checkpoints:
        load_checkpoint(c)
    return s


def streamlit_command(port: int, address: str = "localhost", settings: DashboardSettings | None = None) -> list[str]:
    """``python -m streamlit run <the package's page> ... -- <settings>``."""
    from ..dashboard import APP

    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
           "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--global.developmentMode", "false"]
    return cmd + (["--", *settings.to_argv()] if settings is not None else [])


def run(args: argparse.Namespace) -> int:
    s = settings(args)
    print(f"erfkit dashboard: open http://{args.address}:{args.port} in a browser (Ctrl-C to stop)", flush=True)
    try:
        return subprocess.call(streamlit_command(args.port, args.address, s), env=dict(os.environ))
    except KeyboardInterrupt:
        return 0
