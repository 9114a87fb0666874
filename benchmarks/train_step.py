"""Cost of a cyclic training step against a baseline step on the same clip (side by side, medians).

stm-tiny: a batch of 4 clips of 3 frames (192x320 crops, the cpu-tiny preset);
stm-lite0: the same batch, as the cpu-lite0 preset trains it (stem and blocks 0-7 of both
encoders frozen: ``freeze_blocks=8``); stm-r50: one clip of 3 frames at 240x427.  Each step is forward + backward +
Adam update; the two modes alternate.  Target: cyclic at most 1.6x baseline.

Each allocator setting runs in its own process (glibc's settings cannot be
undone): ``default`` leaves glibc alone, ``kept`` is what ``erfkit train`` does
(:func:`erfkit.device.keep_freed_memory`).

The floor: with frame 1's query features and the forward chain's memories
reused, a cyclic step adds exactly one memory encoding (the last frame, with
its predicted mask), one query encoding (frame 1) and T-1 decodes to a baseline
step, which holds two memory encodings, T-1 query encodings and T-1 decodes.
Each part is timed alone (forward + backward, medians) and the floor is
``(baseline parts + added parts) / baseline parts``: the ratio a step with no
overhead at all would have.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Callable

import torch

from erfkit.data.augment import AugmentConfig
from erfkit.data.sampler import ClipDataset, collate_clips
from erfkit.device import keep_freed_memory
from erfkit.model import build_model
from erfkit.model.loss import segmentation_loss
from erfkit.model.stm import STM, Memory, QueryFeatures
from erfkit.training.config import TRAIN_PRESETS
from erfkit.training.step import TrainStep

from .common import ROOT, median_time, save, synth_data

PLAN = {"stm-tiny": ((192, 320), 4, 7), "stm-lite0": ((192, 320), 4, 5), "stm-r50": ((240, 427), 1, 3)}
#: size, clips, repeats; the backbone blocks each preset's training keeps frozen
FROZEN = {"stm-lite0": TRAIN_PRESETS["cpu-lite0"].freeze_blocks}
ALLOCATORS = ("default", "kept")


def _parts(model: STM, batch: dict[str, torch.Tensor], repeats: int) -> dict[str, float]:
    """Forward + backward seconds of each part of a step, timed alone."""
    frames, masks, valid = batch["frames"], batch["masks"], batch["valid"]
    with torch.no_grad():
        memory = model.memorize(frames[:, 0], masks[:, 0])
        query = model.encode_query(frames[:, 1])

    def leaf(t: torch.Tensor) -> torch.Tensor:
        return t.detach().clone().requires_grad_()

    def memorize(predicted: bool) -> Callable[[], None]:
        def run() -> None:  # a predicted mask is differentiated too (gradients flow through the chain)
            m = model.memorize(frames[:, 1], leaf(masks[:, 1]) if predicted else masks[:, 1])
            (m.keys.sum() + m.values.sum()).backward()
        return run

    def encode() -> None:
        q = model.encode_query(frames[:, 1])
        (q.key.sum() + q.value.sum() + q.skip3.sum() + q.skip2.sum()).backward()

    def decode() -> None:
        q = QueryFeatures(leaf(query.key), leaf(query.value), leaf(query.skip3), leaf(query.skip2), query.pad)
        logits = model.segment(q, Memory(leaf(memory.keys), leaf(memory.values)), valid)
        segmentation_loss(logits, masks[:, 1], 1.0, valid=valid).backward()

    fns = {"memorize_truth": memorize(False), "memorize_prediction": memorize(True),
           "encode_query": encode, "decode": decode}
    return {name: median_time(fn, repeats)[0] for name, fn in fns.items()}


def measure(allocator: str) -> dict:
    if allocator == "kept" and not keep_freed_memory():
        return {}
    data = synth_data()
    out = {}
    for preset, (size, clips, repeats) in PLAN.items():
        ds = ClipDataset(data, "train", size=size, augment=AugmentConfig(), seed=0, max_objects=3)
        batch = collate_clips([ds[i] for i in range(clips)])
        model = build_model(preset, seed=0)
        if preset in FROZEN:
            model.freeze_backbone(FROZEN[preset])
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        steps = {m: TrainStep(model, m) for m in ("baseline", "cyclic")}
        times: dict[str, list[float]] = {"baseline": [], "cyclic": []}

        def step(mode: str) -> float:
            t0 = time.perf_counter()
            loss = steps[mode](batch["frames"], batch["masks"], batch["valid"])["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return time.perf_counter() - t0

        step("baseline"), step("cyclic")  # warm-up
        for _ in range(repeats):
            for mode in times:
                times[mode].append(step(mode))
        b, c = statistics.median(times["baseline"]), statistics.median(times["cyclic"])
        parts = _parts(model, batch, repeats)
        n = batch["frames"].shape[1] - 1  # predictions per clip
        base = parts["memorize_truth"] + parts["memorize_prediction"] + n * (parts["encode_query"] + parts["decode"])
        added = parts["memorize_prediction"] + parts["encode_query"] + n * parts["decode"]
        out[preset] = {"clips": clips, "objects": int(batch["valid"].shape[1]), "size": list(size),
                       "seconds": {"baseline": b, "cyclic": c}, "all_seconds": times, "ratio": c / b,
                       "part_seconds": parts, "floor": (base + added) / base}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--allocator", choices=ALLOCATORS, help=argparse.SUPPRESS)  # one child's share
    args = p.parse_args()
    if args.allocator:
        print(json.dumps(measure(args.allocator)))
        return
    runs = {}
    for allocator in ALLOCATORS:
        child = subprocess.run([sys.executable, "-m", "benchmarks.train_step", "--allocator", allocator],
                               check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        runs[allocator] = json.loads(child.stdout.strip().splitlines()[-1])
    save("train_step", {"allocators": runs})


if __name__ == "__main__":
    main()
