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

HELP = "the Streamlit dashboard comparing two checkpoints"

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "dashboards" / "app.py"
DEFAULT_CHECKPOINTS = [REPO / "checkpoints" / "stm-tiny-baseline", REPO / "checkpoints" / "stm-tiny-cyclic"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="DAVIS-layout dataset (default: the synthetic benchmark, made if missing)")
    p.add_argument("--split", default="val")
    p.add_argument("--checkpoint", action="append", default=None, metavar="CKPT",
                   help="give twice: checkpoint A and checkpoint B (default: the shipped baseline and cyclic)")
    p.add_argument("--atlas", action="append", default=None, metavar="DIR", help="folder(s) holding atlases")
    p.add_argument("--cache", default="runs/dashboard-cache", help="where maps computed on demand are kept")
    p.add_argument("--size", default="checkpoint", metavar="HxW|native",
                   help="network input size (default: each checkpoint's training size); views are at the file's size")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="localhost")


def environment(args: argparse.Namespace) -> dict[str, str]:
    """The app's settings, passed through environment variables."""
    from ..data.synth import default_synth_root, make_synth
    from ..errors import ConfigError

    data = Path(args.data) if args.data else default_synth_root()
    if args.data is None and not (data / "ImageSets").is_dir():
        print(f"making the default synthetic benchmark in {data} (about 10-30 s) ...", flush=True)
        make_synth(data, "default", force=data.exists())
    checkpoints = [Path(c) for c in (args.checkpoint or DEFAULT_CHECKPOINTS)]
    if len(checkpoints) != 2:
        raise ConfigError("give --checkpoint exactly twice (A and B), or not at all")
    from ..data.davis import DavisDataset
    from ..model.checkpoint import load_checkpoint

    from ..data.letterbox import parse_size

    if args.size != "checkpoint":
        parse_size(args.size)
    DavisDataset(data, args.split)  # clear errors now rather than in the browser
    for c in checkpoints:
        load_checkpoint(c)
    env = {
        "ERFKIT_DASHBOARD_DATA": str(data.resolve()),
        "ERFKIT_DASHBOARD_SPLIT": args.split,
        "ERFKIT_DASHBOARD_CHECKPOINTS": os.pathsep.join(str(c.resolve()) for c in checkpoints),
        "ERFKIT_DASHBOARD_ATLAS": os.pathsep.join(str(Path(a).resolve()) for a in (args.atlas or [])),
        "ERFKIT_DASHBOARD_CACHE": str(Path(args.cache).resolve()),
        "ERFKIT_DASHBOARD_SIZE": args.size,
    }
    return env


def streamlit_command(port: int, address: str = "localhost") -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false"]


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError

    if not APP.is_file():
        raise ConfigError(f"the dashboard app is missing: {APP} (run from a checkout of erfkit)")
    env = {**os.environ, **environment(args)}
    print(f"erfkit dashboard: open http://{args.address}:{args.port} in a browser (Ctrl-C to stop)", flush=True)
    try:
        return subprocess.call(streamlit_command(args.port, args.address), env=env)
    except KeyboardInterrupt:
        return 0
