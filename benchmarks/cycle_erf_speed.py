"""Cycle-ERF: the batched implementation against the straightforward per-frame loop, stm-tiny, 240x427.

8 reference frames of one video, target = its first frame, M = 50 steps.
Both run 3 times, interleaved; medians.  Also reported: the largest
difference between their maps in float32 (equivalence is tested in float64).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from erfkit.explain.cycle import CycleERFConfig, cycle_erf, cycle_erf_loop
from erfkit.tensors import frame_tensor, onehot

from .common import benchmark_video, save
from .gc_speed import model_for


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    seq = benchmark_video()
    model, source = model_for("stm-tiny")
    dev = torch.device("cpu")
    refs = torch.cat([frame_tensor(seq.read_frame(t), dev) for t in range(1, 32, 4)])
    x_t = frame_tensor(seq.read_frame(0), dev)
    y_t = onehot(seq.prompt(0), sorted(seq.object_frames), dev)
    cfg = CycleERFConfig(steps=50)
    fast_t, loop_t = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        fast = cycle_erf(model, refs, x_t, y_t, cfg)
        fast_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loop = cycle_erf_loop(model, refs, x_t, y_t, cfg)
        loop_t.append(time.perf_counter() - t0)
    f, lp = statistics.median(fast_t), statistics.median(loop_t)
    save("cycle_erf_speed", {
        "model": source, "reference_frames": refs.shape[0], "objects": y_t.shape[1] - 1, "steps": cfg.steps,
        "batch_size": cfg.batch_size, "size": list(refs.shape[-2:]),
        "seconds": {"batched": f, "loop": lp}, "all_seconds": {"batched": fast_t, "loop": loop_t},
        "speedup": lp / f, "float32_max_abs_difference": float((fast.maps - loop.maps).abs().max()),
        "map_max": float(loop.maps.max()),
    })


if __name__ == "__main__":
    main()
