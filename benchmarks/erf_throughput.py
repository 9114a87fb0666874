"""Cycle-ERF throughput (frames per second) for stm-tiny, stm-r18 and stm-r50 at 240x427, 1 and 2 processes.

Reference frames of the benchmark video (letterboxed to 240x427), target its
first frame, M = 50 steps, batches of 4, float32.  For each model:

* 1 process (all cores): ``cycle_erf`` over the frames;
* 2 processes (one core each, started together), each half of the frames -
  what ``torchrun --nproc-per-node 2 -m erfkit erf`` does with its units;
* the floor: the same M forward and backward passes of the memory path alone
  (``memorize`` from the cached stem + decode from the cached query features,
  gradient of a plain sum with respect to the mask), timed alone, 1 process.

Ratio to the floor = 1-process time / floor time (target <= 1.15).  Medians
of ``--repeats`` runs.  On two cores: stm-tiny about 6 minutes, stm-r18 more than
30 (``--models``, ``--repeats`` to split the run: results are saved after each model, and a run adds its
models to those an earlier run with the same settings measured, each with its own command and date).  ``--device cuda`` adds the GPU figures where one exists.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

from erfkit.data.letterbox import PAPER_SIZE, Letterbox
from erfkit.explain.cycle import CycleERFConfig, cycle_erf
from erfkit.tensors import frame_tensor, frozen, onehot

from .common import RESULTS, ROOT, benchmark_video, command_line, save
from .gc_speed import model_for

FRAMES = {"stm-tiny": 8, "stm-r18": 4, "stm-r50": 4}


def inputs(frames: int, device: torch.device):
    seq = benchmark_video()
    box = Letterbox.fit(seq.size, PAPER_SIZE)
    idx = [1 + (4 * i) % (len(seq) - 1) for i in range(frames)]
    refs = box.image(torch.cat([frame_tensor(seq.read_frame(t), device) for t in idx]))
    x_t = box.image(frame_tensor(seq.read_frame(0), device))
    y_t = box.mask(onehot(seq.prompt(0), sorted(seq.object_frames), device))
    return refs, x_t, y_t


def cycle_seconds(model, refs, x_t, y_t, cfg: CycleERFConfig) -> float:
    t0 = time.perf_counter()
    cycle_erf(model, refs, x_t, y_t, cfg)
    if refs.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def floor_seconds(model, refs, x_t, y_t, cfg: CycleERFConfig) -> float:
    """M forward + backward passes of the memory path, nothing else (no loss, no bookkeeping)."""
    K = y_t.shape[1] - 1
    t0 = time.perf_counter()
    with frozen(model), torch.enable_grad():
        with torch.no_grad():
            query = model.encode_query(x_t)
        for start in range(0, refs.shape[0], cfg.batch_size):
            frames = refs[start:start + cfg.batch_size]
            with torch.no_grad():
                stem = model.memory_stem(frames)
            y = frames.new_zeros((frames.shape[0], K + 1, *frames.shape[-2:]))
            for _ in range(cfg.steps):
                y.requires_grad_(True)
                out = model.segment(query, model.memorize(frames, y, stem=stem))
                (g,) = torch.autograd.grad(out.sum(), y)
                y = (y - 1e-3 * g).detach()
    if refs.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def worker(preset: str, part: int, parts: int, steps: int) -> None:
    """One of the processes: its share of the frames; prints its seconds."""
    model, _ = model_for(preset)
    refs, x_t, y_t = inputs(FRAMES[preset], torch.device("cpu"))
    mine = refs[part::parts]
    print(json.dumps({"seconds": cycle_seconds(model.eval(), mine, x_t, y_t, CycleERFConfig(steps=steps))}))


def two_processes(preset: str, steps: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [sys.executable, "-m", "benchmarks.erf_throughput", "--worker", preset, "--steps", str(steps)]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd + ["--part", str(i)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise RuntimeError(f"worker failed: {out}")
    return time.perf_counter() - t0


def earlier(name: str, steps: int, batch_size: int, device: str) -> dict:
    """The models an earlier run measured with the same settings (``--models`` splits the work between runs,
    each adding its models to the result file); a run with other settings starts afresh."""
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return {}
    r = json.loads(path.read_text())
    same = (r.get("steps"), r.get("batch_size"), r.get("device")) == (steps, batch_size, device)
    return dict(r.get("models", {})) if same else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--models", default="stm-tiny,stm-r18,stm-r50")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.part, 2, args.steps)
    device = torch.device(args.device)
    cfg = CycleERFConfig(steps=args.steps)
    name = "erf_throughput" if device.type == "cpu" else f"erf_throughput_{device.type}"
    results = earlier(name, args.steps, cfg.batch_size, str(device))
    for preset in args.models.split(","):
        model, source = model_for(preset)
        model = model.to(device).eval()
        refs, x_t, y_t = inputs(FRAMES[preset], device)
        one, floor, two = [], [], []
        for _ in range(args.repeats):  # interleaved, so drifts of a shared machine hit all alike
            one.append(cycle_seconds(model, refs, x_t, y_t, cfg))
            floor.append(floor_seconds(model, refs, x_t, y_t, cfg))
            if device.type == "cpu":
                two.append(two_processes(preset, args.steps))
        n = refs.shape[0]
        r = {"model": source, "frames": n, "objects": y_t.shape[1] - 1, "size": list(refs.shape[-2:]),
             "seconds_1": statistics.median(one), "seconds_floor": statistics.median(floor), "all_1": one,
             "all_floor": floor}
        r["command"] = command_line("erf_throughput")
        r["date"] = time.strftime("%Y-%m-%d")
        r["fps_1"], r["fps_floor"] = n / r["seconds_1"], n / r["seconds_floor"]
        r["ratio_to_floor"] = r["seconds_1"] / r["seconds_floor"]
        if two:
            r["seconds_2"], r["all_2"] = statistics.median(two), two
            r["fps_2"] = n / r["seconds_2"]
        results[preset] = r
        print(preset, json.dumps({k: v for k, v in r.items() if not k.startswith("all")}), flush=True)
        # saved after each model: on two cores stm-r18 and stm-r50 take about half an hour each, and a run
        # stopped midway keeps what it measured (the report lists the models measured)
        save(name, {"steps": args.steps, "batch_size": cfg.batch_size, "device": str(device), "models": results})


if __name__ == "__main__":
    main()
