"""Gradient correction's cost, side by side in one run, for stm-tiny and stm-r50 at 240x427.

For one video (the paper's set-up: N = 10 steps every K = 5 frames):

* offline: the predictor without correction;
* GC: with correction (frame 1's query features cached, no weight gradients);
* naive GC: the straightforward version, re-encoding frame 1 and computing
  weight gradients at every step;
* one pass: one forward + backward of memorize + segment-from-cached-query,
  the unavoidable work of a step.  The floor is offline time + corrected
  frames x N x one pass.

Targets: GC at most 3.3x offline; GC within 10% of the floor.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import erfkit.inference.predictor as predictor_module
from erfkit.inference.correction import GCConfig, gradient_correction_naive
from erfkit.inference.predictor import VideoPredictor
from erfkit.tensors import frame_tensor, frozen, onehot
from erfkit.model import build_model
from erfkit.model.checkpoint import load_checkpoint
from erfkit.model.loss import segmentation_loss

from .common import ROOT, benchmark_video, save

GC = GCConfig(iters=10, rate=180.0, every=5)
PLAN = {"stm-tiny": (31, 3), "stm-r50": (11, 1)}  # frames (5, 10, 15 ... are corrected), repeats


def model_for(preset: str):
    shipped = ROOT / "checkpoints" / "stm-tiny-cyclic"
    if preset == "stm-tiny" and shipped.exists():
        return load_checkpoint(shipped), "checkpoints/stm-tiny-cyclic"
    return build_model(preset, seed=0), f"{preset}, random weights (speed does not depend on them)"


def run_video(model, frames, prompt, gc: GCConfig) -> float:
    p = VideoPredictor(model, memory="mem", gc=gc)
    t0 = time.perf_counter()
    for t, f in enumerate(frames):
        p.step(f, prompt if t == 0 else None)
    return time.perf_counter() - t0


def one_pass(model, x_t, y, x_1, y_1, repeats: int) -> float:
    """Median time of one forward + backward of memorize + segment-from-cached-query."""
    with torch.no_grad():
        q = model.encode_query(x_1)
        stem = model.memory_stem(x_t)
    times = []
    with frozen(model), torch.enable_grad():
        for _ in range(repeats + 1):
            yy = y.detach().clone().requires_grad_(True)
            t0 = time.perf_counter()
            loss = segmentation_loss(model.segment(q, model.memorize(x_t, yy, stem=stem)), y_1)
            torch.autograd.grad(loss, yy)
            times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    seq = benchmark_video()
    out = {}
    for preset, (n, repeats) in PLAN.items():
        model, source = model_for(preset)
        frames = [seq.read_frame(t) for t in range(n)]
        prompt = seq.prompt(0)
        corrected = [t for t in range(1, n) if GC.applies_to(t)]
        dev = torch.device("cpu")
        x_1 = frame_tensor(frames[0], dev)
        ids = sorted(seq.object_frames)
        y_1 = onehot(prompt, ids, dev)

        def naive(model_, frame, probs, references, config):
            return gradient_correction_naive(model_, frame, probs, [x_1] * len(references), references, config)

        t_off, t_gc, t_naive = [], [], []
        for _ in range(repeats):  # interleaved, so the three see the same machine
            t_off.append(run_video(model, frames, prompt, GCConfig()))
            t_gc.append(run_video(model, frames, prompt, GC))
            real = predictor_module.gradient_correction
            predictor_module.gradient_correction = naive
            try:
                t_naive.append(run_video(model, frames, prompt, GC))
            finally:
                predictor_module.gradient_correction = real
        off, gc, nv = statistics.median(t_off), statistics.median(t_gc), statistics.median(t_naive)
        with torch.no_grad():
            p = VideoPredictor(model)
            p.step(frames[0], prompt)
            y = p.step(frames[5])[None]
        step = one_pass(model, frame_tensor(frames[5], dev), y, x_1, y_1, repeats=5 if preset == "stm-tiny" else 3)
        floor = off + len(corrected) * GC.iters * step
        out[preset] = {
            "model": source, "frames": n, "corrected_frames": len(corrected), "N": GC.iters, "K": GC.every,
            "seconds": {"offline": off, "gc": gc, "naive_gc": nv}, "all_seconds": {
                "offline": t_off, "gc": t_gc, "naive_gc": t_naive},
            "fps": {"offline": n / off, "gc": n / gc},
            "slowdown": gc / off, "one_pass_seconds": step, "floor_seconds": floor, "gc_over_floor": gc / floor,
            "naive_over_gc": nv / gc,
        }
    save("gc_speed", {"models": out})


if __name__ == "__main__":
    main()
