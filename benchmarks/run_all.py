"""Run every benchmark (each in its own process), then rewrite BENCHMARKS.md."""

from __future__ import annotations

import subprocess
import sys

from .report import ORDER


def main() -> None:
    for name in ORDER:
        print(f"=== benchmarks.{name}", flush=True)
        subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=True)
    subprocess.run([sys.executable, "-m", "benchmarks.report"], check=True)


if __name__ == "__main__":
    main()
