"""The dashboard's settings: one dataclass, its defaults, and the arguments that carry it to the page.

``erfkit dashboard`` and the page share :meth:`DashboardSettings.add_arguments`,
so every default lives here: the command passes the settings as script
arguments (``streamlit run app.py -- --data D --checkpoint A ...``) and the
page reads them back with :meth:`DashboardSettings.from_argv`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DashboardSettings", "DEFAULT_CHECKPOINTS", "DEFAULT_CACHE"]

_REPO = Path(__file__).resolve().parents[2]
#: the two shipped checkpoints (A: baseline, B: cyclic) of a checkout of erfkit
DEFAULT_CHECKPOINTS = (_REPO / "checkpoints" / "stm-tiny-baseline", _REPO / "checkpoints" / "stm-tiny-cyclic")
#: where maps computed on demand are kept (relative to the working directory)
DEFAULT_CACHE = Path("runs") / "dashboard-cache"


def _default_data() -> str:
    return os.environ.get("ERFKIT_DATA", "data/synth")  # as erfkit.data.synth.default_synth_root


@dataclass(frozen=True)
class DashboardSettings:
    """What the dashboard opens.

    Attributes:
        data: a DAVIS-layout dataset (default: the synthetic benchmark).
        split: its split.
        checkpoints: checkpoint A and checkpoint B.
        atlas: folders holding atlases built with ``erfkit erf``.
        cache: where maps computed on demand are kept.
        size: the network's input size: ``"checkpoint"`` (each checkpoint's
            training size), ``"HxW"`` or ``"native"``.
    """

    data: str = field(default_factory=_default_data)
    split: str = "val"
    checkpoints: tuple[str, str] = tuple(str(c) for c in DEFAULT_CHECKPOINTS)  # type: ignore[assignment]
    atlas: tuple[str, ...] = ()
    cache: str = str(DEFAULT_CACHE)
    size: str = "checkpoint"

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        """The settings' arguments (defaults: this class's)."""
        d = DashboardSettings()
        p.add_argument("--data", default=None,
                       help=f"DAVIS-layout dataset (default: the synthetic benchmark {d.data}, made if missing)")
        p.add_argument("--split", default=d.split)
        p.add_argument("--checkpoint", action="append", default=None, metavar="CKPT",
                       help="give twice: checkpoint A and checkpoint B (default: the shipped baseline and cyclic)")
        p.add_argument("--atlas", action="append", default=None, metavar="DIR", help="folder(s) holding atlases")
        p.add_argument("--cache", default=d.cache, help="where maps computed on demand are kept")
        p.add_argument("--size", default=d.size, metavar="HxW|native",
                       help="network input size (default: each checkpoint's training size); "
                            "views are at the file's size")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "DashboardSettings":
        """Settings from parsed :meth:`add_arguments`; paths made absolute."""
        d = cls()
        checkpoints = tuple(args.checkpoint or d.checkpoints)
        return cls(data=str(Path(args.data or d.data).resolve()), split=args.split,
                   checkpoints=tuple(str(Path(c).resolve()) for c in checkpoints),  # type: ignore[arg-type]
                   atlas=tuple(str(Path(a).resolve()) for a in (args.atlas or ())),
                   cache=str(Path(args.cache).resolve()), size=args.size)

    @classmethod
    def from_argv(cls, argv: list[str]) -> "DashboardSettings":
        """Settings from script arguments (what the page receives); unknown arguments are ignored."""
        p = argparse.ArgumentParser(add_help=False)
        cls.add_arguments(p)
        args, _ = p.parse_known_args(argv)
        return cls.from_args(args)

    def to_argv(self) -> list[str]:
        """The script arguments that :meth:`from_argv` reads back as these settings."""
        argv = ["--data", self.data, "--split", self.split, "--cache", self.cache, "--size", self.size]
        for c in self.checkpoints:
            argv += ["--checkpoint", c]
        for a in self.atlas:
            argv += ["--atlas", a]
        return argv
