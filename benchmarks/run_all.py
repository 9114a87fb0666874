"""Run every benchmark (each in its own process), then rewrite BENCHMARKS.md.

Sections without a module of their own (``real_video_variants``, ``real_video_two_stage``: real_video run on
trainings' snapshots, ``--name <section>``) keep the results file they have.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .report import ORDER


def main() -> None:
    for name in ORDER:
        if not (Path(__file__).parent / f"{name}.py").is_file():
            continue
        print(f"=== benchmarks.{name}", flush=True)
        subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=True)
    subprocess.run([sys.executable, "-m", "benchmarks.report"], check=True)


if __name__ == "__main__":
    main()
