"""Run every benchmark (each in its own process), then rewrite BENCHMARKS.md.

Sections without a module of their own (``real_video_variants``, ``real_video_two_stage``,
``real_video_lite0_clips9``, ``real_video_lite0_seed1``: real_video run on trainings' snapshots,
``--name <section>``) keep the results file they have.  ``xmem_speed`` needs XMem's code outside the project: it
runs when ``XMEM_REFERENCE`` names that folder, else its results file stays.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .report import ORDER


def main() -> None:
    for name in ORDER:
        if not (Path(__file__).parent / f"{name}.py").is_file():
            continue
        extra = []
        if name == "xmem_speed":
            if not os.environ.get("XMEM_REFERENCE"):
                print("=== benchmarks.xmem_speed skipped: set XMEM_REFERENCE to XMem's code (see its docstring)")
                continue
            extra = ["--reference", os.environ["XMEM_REFERENCE"]]
        print(f"=== benchmarks.{name}", flush=True)
        subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *extra], check=True)
    subprocess.run([sys.executable, "-m", "benchmarks.report"], check=True)


if __name__ == "__main__":
    main()
