"""Shared helpers of the benchmarks: machine facts, timing, result files.

Every benchmark writes ``benchmarks/results/<name>.json`` with its numbers, the
command that produced them, the machine and the date; ``python -m
benchmarks.report`` turns those files into BENCHMARKS.md.  Timings are
medians of repeated runs, and ratios are measured side by side in one run.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}


def median_time(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` over ``repeats`` runs (after ``warmup`` runs)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def command_line(module: str) -> str:
    """This process's command, as ``python -m benchmarks.<module> <its arguments, shell-quoted>``."""
    return " ".join([f"python -m benchmarks.{module}", shlex.join(sys.argv[1:])]).strip()


def save(name: str, results: dict[str, Any], module: str | None = None) -> Path:
    """Write ``results/<name>.json`` with the command (``python -m benchmarks.<module or name> ...``), machine and date."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "command": command_line(module or name),
           "date": datetime.date.today().isoformat(), "machine": machine(), **results}
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=float) + "\n")
    tmp.replace(path)
    print(json.dumps(results, indent=2, default=float))
    return path


def previous(name: str) -> dict[str, Any]:
    """The results of the last run of benchmark ``name`` (its parts, without the header that :func:`save`
    writes again); empty when there is none."""
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text())
    return {k: v for k, v in doc.items() if k not in ("benchmark", "command", "date", "machine")}


def synth_data() -> Path:
    """The default synthetic benchmark (made if missing)."""
    from erfkit.data.synth import default_synth_root, make_synth

    root = ROOT / default_synth_root() if not default_synth_root().is_absolute() else default_synth_root()
    if not (root / "ImageSets").is_dir():
        make_synth(root, "default", force=root.exists())
    return root


def benchmark_video():
    """The first validation video of the default synthetic benchmark, which the speed benchmarks time."""
    from erfkit.data.davis import DavisDataset

    ds = DavisDataset(synth_data(), "val")
    return ds[ds.names[0]]
