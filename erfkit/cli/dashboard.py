"""Start the Streamlit dashboard: two checkpoints side by side, frame by frame.

With no arguments it opens the demo data (two real DAVIS 2017 val videos,
pseudo ground truth after frame 0: demo/davis2017-real/README.md) and the
default pair (stm-lite0 baseline and cyclic).  Maps come from atlases (--atlas, built with
`erfkit erf`) when they match, otherwise they are computed on demand and
cached under --cache.

Examples:
  erfkit dashboard
  erfkit synth data/synth && erfkit dashboard --data data/synth --checkpoint checkpoints/stm-tiny-baseline --checkpoint checkpoints/stm-tiny-cyclic
  erfkit dashboard --data data/synth --checkpoint A --checkpoint B --atlas atlas/
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from ..dashboard.settings import DEFAULT_CHECKPOINTS, DashboardSettings

HELP = "the Streamlit dashboard comparing two checkpoints"

__all__ = ["add_arguments", "run", "settings", "streamlit_command", "DEFAULT_CHECKPOINTS"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DashboardSettings()  # the defaults live there
    p.add_argument("--data", default=None,
                   help=f"DAVIS-layout dataset (default: the demo's two real videos, {d.data})")
    p.add_argument("--split", default=d.split)
    p.add_argument("--checkpoint", action="append", default=None, metavar="CKPT",
                   help="give twice: checkpoint A and checkpoint B (default: the stm-lite0 baseline and cyclic)")
    p.add_argument("--atlas", action="append", default=None, metavar="DIR", help="folder(s) holding atlases")
    p.add_argument("--cache", default=d.cache, help="where maps computed on demand are kept")
    p.add_argument("--size", default=d.size, metavar="HxW|native",
                   help="network input size (default: each checkpoint's training size); views are at the file's size")
    p.add_argument("--pseudo-truth", action="store_true",
                   help="the dataset's annotations are pseudo ground truth (e.g. OSVOS masks): every metric says so "
                        "(implied by a PSEUDO_GROUND_TRUTH file in the dataset, as in the demo data)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="localhost")


def settings(args: argparse.Namespace) -> DashboardSettings:
    """The page's settings from the arguments, checked here (clear errors now rather than in the browser)."""
    from ..data.davis import DavisDataset
    from ..data.letterbox import parse_size
    from ..errors import ConfigError
    from ..model.checkpoint import load_checkpoint

    d = DashboardSettings()
    s = DashboardSettings(data=args.data or d.data, split=args.split,
                          checkpoints=tuple(args.checkpoint or d.checkpoints),  # type: ignore[arg-type]
                          atlas=tuple(args.atlas or ()), cache=args.cache, size=args.size,
                          truth_kind="pseudo ground truth" if args.pseudo_truth else "ground truth").resolved()
    if len(s.checkpoints) != 2:
        raise ConfigError("give --checkpoint exactly twice (A and B), or not at all")
    if s.size != "checkpoint":
        parse_size(s.size)
    DavisDataset(s.data, s.split)
    for c in s.checkpoints:
        load_checkpoint(c)  # any family: A and B may be an STM and an XMem
    return s


def streamlit_command(port: int, address: str = "localhost", settings: DashboardSettings | None = None) -> list[str]:
    """``python -m erfkit.dashboard.serve run <the package's page> ... -- <settings>``: Streamlit's ``run``, the
    page's libraries imported before the server answers (:mod:`erfkit.dashboard.serve`)."""
    from ..dashboard import APP

    cmd = [sys.executable, "-m", "erfkit.dashboard.serve", "run", str(APP), "--server.port", str(port),
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
