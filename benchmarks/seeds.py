"""J&F of the trained models on the synthetic val split, per seed, and the trivial floor.

For the shipped checkpoints (seed 0) and every finished run
`runs/seed<S>-<mode>` of another seed (40 epochs of the cpu-tiny preset) this runs
`erfkit segment --checkpoint <run> --data data/synth --out ... --eval`,
and `erfkit segment --copy-first ...` for the floor (the first-frame mask copied
to every frame).  Reports each J&F and, per mode, the mean and spread over seeds.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
from pathlib import Path

from erfkit.cli import main as cli

from .common import ROOT, save, synth_data


def evaluate(args: list[str], out: Path) -> dict:
    assert cli(["segment", *args, "--data", str(synth_data()), "--out", str(out), "--eval", "--overwrite"]) == 0
    with open(out / "global_results-val.csv") as f:
        row = next(csv.DictReader(f))
    return {k: float(v) for k, v in row.items()}


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    from erfkit.model.checkpoint import load_checkpoint

    candidates = [ROOT / "checkpoints" / "stm-tiny-baseline", ROOT / "checkpoints" / "stm-tiny-cyclic",
                  *sorted((ROOT / "runs").glob("seed*-*"))]
    runs, seen = {}, set()
    for run in candidates:
        if not (run / "model.safetensors").is_file():
            continue
        info = load_checkpoint(run).checkpoint.metadata["training"]
        if info["epochs_done"] != info["config"]["epochs"] or (info["seed"], info["mode"]) in seen:
            continue  # still training, or the shipped seed again
        seen.add((info["seed"], info["mode"]))
        runs[str(run.relative_to(ROOT))] = {"seed": info["seed"], "mode": info["mode"],
                                            "train_seconds": info["seconds"]}
    with tempfile.TemporaryDirectory() as tmp:
        for name, r in runs.items():
            r["scores"] = evaluate(["--checkpoint", str(ROOT / name)], Path(tmp) / name.replace("/", "_"))
        floor = evaluate(["--copy-first"], Path(tmp) / "floor")
    per_mode = {}
    for mode in ("baseline", "cyclic"):
        jf = [r["scores"]["J&F-Mean"] for r in runs.values() if r["mode"] == mode]
        if jf:
            per_mode[mode] = {"seeds": len(jf), "mean": statistics.mean(jf),
                              "std": statistics.stdev(jf) if len(jf) > 1 else 0.0, "values": jf}
    by_seed: dict[int, dict[str, float]] = {}
    for r in runs.values():
        by_seed.setdefault(r["seed"], {})[r["mode"]] = r["scores"]["J&F-Mean"]
    gains = {s: v["cyclic"] - v["baseline"] for s, v in sorted(by_seed.items()) if len(v) == 2}
    paired = {"gains": gains, "mean": statistics.mean(gains.values()),
              "std": statistics.stdev(gains.values()) if len(gains) > 1 else 0.0} if gains else {}
    save("seeds", {"runs": runs, "floor": floor, "per_mode": per_mode, "cyclic_minus_baseline": paired})


if __name__ == "__main__":
    main()
