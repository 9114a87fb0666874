"""Frames per second of stm-tiny, stm-r18 and stm-r50 at 240x427 on this CPU (offline, mem strategy).

Frames are decoded beforehand, so the number is the model's speed; the
median of several passes over the same frames.
"""

from __future__ import annotations

import argparse

from erfkit.inference.predictor import VideoPredictor
from erfkit.model import build_model

from .common import benchmark_video, median_time, save

PLAN = {"stm-tiny": (32, 5), "stm-r18": (12, 3), "stm-r50": (8, 3)}  # frames, repeats


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    seq = benchmark_video()
    out = {}
    for preset, (n, repeats) in PLAN.items():
        frames = [seq.read_frame(t) for t in range(n)]
        prompt = seq.prompt(0)
        model = build_model(preset, seed=0)

        def run() -> None:
            p = VideoPredictor(model, memory="mem")
            for t, f in enumerate(frames):
                p.step(f, prompt if t == 0 else None)

        med, times = median_time(run, repeats=repeats)
        out[preset] = {"frames": n, "size": list(seq.size), "objects": len(seq.object_frames),
                       "fps": n / med, "seconds_per_pass": times}
    save("fps", {"presets": out})


if __name__ == "__main__":
    main()
