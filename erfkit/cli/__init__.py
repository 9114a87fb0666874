"""The ``erfkit`` command: one program, one verb per job, thin over the library.

User errors (:class:`erfkit.errors.ErfkitError`) print one line naming the file
and the problem and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

__all__ = ["main", "VERBS", "OPTION_FLAGS"]

#: verb -> module (each defines ``add_arguments(parser)``, ``run(args)`` and ``HELP``).
VERBS = {
    "synth": "erfkit.cli.synth",
    "segment": "erfkit.cli.segment",
    "eval": "erfkit.cli.evaluate",
    "train": "erfkit.cli.train",
    "erf": "erfkit.cli.erf",
    "memory": "erfkit.cli.memory",
    "onset": "erfkit.cli.onset",
    "render": "erfkit.cli.render",
    "compare": "erfkit.cli.compare",
    "experiment": "erfkit.cli.experiment",
    "dashboard": "erfkit.cli.dashboard",
    "figures": "erfkit.cli.figures",
    "info": "erfkit.cli.info",
}


#: library parameter (:attr:`erfkit.errors.ErfkitError.option`) -> the flag that sets it.
#: Library errors name parameters; the CLI reports its own flags.
OPTION_FLAGS = {
    "overwrite": "--overwrite",
    "force": "--force",
    "resume": "--resume",
    "resolution": "--resolution",
    "max_objects": "--max-objects",
    "set": "--set",
    "data": "--data",
    "gc.iters": "--gc-iters",
    "gc.every": "--gc-every",
    "gc.rate": "--gc-rate",
    "gc.bootstrap": "--gc-bootstrap",
    "size": "--size",
    "frames_dir": "--frames",
    "method": "--method",
    "object": "--object",
    "batch_size": "--batch",
    "freeze_blocks": "--set freeze_blocks=N",
}


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="erfkit",
        description="Space-Time Memory video object segmentation that explains itself.",
    )
    parser.add_argument("--version", action="version", version=f"erfkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, module in VERBS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(verb, help=mod.HELP, description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of errors")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    from ..errors import ErfkitError

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("ERFKIT_DEBUG") == "1"
    try:
        args = build_parser().parse_args(argv)
        status = args._run(args)
        return int(status or 0)
    except ErfkitError as e:
        if debug:
            traceback.print_exc()
        print(f"erfkit: error: {e.describe(OPTION_FLAGS.get(e.option or ''))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("erfkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
