"""Cost of a cyclic training step against a baseline step on the same clip (side by side, medians).

stm-tiny: a batch of 4 clips of 3 frames (192x320 crops, the cpu-tiny preset);
stm-r50: one clip of 3 frames at 240x427.  Each step is forward + backward +
Adam update; the two modes alternate.  Target: cyclic at most 1.6x baseline.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from erfkit.data.augment import AugmentConfig
from erfkit.data.sampler import ClipDataset, collate_clips
from erfkit.model import build_model
from erfkit.training.step import TrainStep

from .common import save, synth_data

PLAN = {"stm-tiny": ((192, 320), 4, 7), "stm-r50": ((240, 427), 1, 3)}  # size, clips, repeats


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    data = synth_data()
    out = {}
    for preset, (size, clips, repeats) in PLAN.items():
        ds = ClipDataset(data, "train", size=size, augment=AugmentConfig(), seed=0, max_objects=3)
        batch = collate_clips([ds[i] for i in range(clips)])
        model = build_model(preset, seed=0)
        opt = torch.optim.Adam(model.parameters(), lr=1e-5)
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
        out[preset] = {"clips": clips, "objects": int(batch["valid"].shape[1]), "size": list(size),
                       "seconds": {"baseline": b, "cyclic": c}, "all_seconds": times, "ratio": c / b}
    save("train_step", {"models": out})


if __name__ == "__main__":
    main()
