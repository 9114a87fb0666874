"""Does a checkpoint find an object in the very frame it has memorised?

The easiest question a memory network can be asked: its memory holds frame 0
with its ground-truth mask, and the query is frame 0 again.  A model that reads
its memory by matching finds every object (J near 1); a model that segments
what stands out in the frame, or what sits where objects usually sit, does not.
Models that fail this cannot track, whatever else they score.

For each checkpoint: J of each object of frame 0 so queried (``memory="first"``,
the checkpoint's input size), on the two real DAVIS 2017 val videos of
``../shared/data/davis2017-val-real-frames`` (real ground truth: frame 0 is
annotated) and on the first ``--videos`` videos of a synthetic val split.

    python -m benchmarks.memory_probe --checkpoints stm-tiny-baseline,stm-tiny-cyclic --data data/tracks
"""

from __future__ import annotations

import argparse

import numpy as np

from erfkit.data.davis import DavisDataset
from erfkit.evaluation.measures import jaccard
from erfkit.inference import VideoPredictor
from erfkit.model.checkpoint import load_checkpoint

from .common import save, synth_data
from .real_video import CHECKPOINTS, FRAMES, SEQUENCES, checkpoint_paths


def same_frame_j(predictor: VideoPredictor, video) -> list[float]:
    """J of each object of frame 0 when the memory is frame 0 with its mask and the query is frame 0."""
    frame, mask = video.read_frame(0), video.prompt(0)
    predictor.reset()
    predictor.step(frame, mask)
    labels = predictor.labels(predictor.step(frame))
    return [float(jaccard(labels == k, mask == k)) for k in sorted(int(i) for i in np.unique(mask) if 0 < i < 255)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default=",".join(CHECKPOINTS),
                        help="comma-separated names under checkpoints/ or paths, each maybe LABEL=PATH (default: %(default)s)")
    parser.add_argument("--data", default=None, help="a synthetic benchmark (default: data/synth, made if missing)")
    parser.add_argument("--videos", type=int, default=10, help="its val videos probed (default: %(default)s)")
    opts = parser.parse_args()
    real = DavisDataset(FRAMES, "val")
    opts.data = opts.data or str(synth_data())
    synth = DavisDataset(opts.data, "val")
    names = synth.names[:opts.videos]
    results = {}
    for ckpt, path in checkpoint_paths(opts.checkpoints):
        predictor = VideoPredictor(load_checkpoint(path), memory="first")
        r = {"real": {s: same_frame_j(predictor, real[s])[0] for s in SEQUENCES}}
        js = [j for n in names for j in same_frame_j(predictor, synth[n])]
        r["synthetic"] = {"objects": len(js), "mean_J": float(np.mean(js)), "share_above_half": float(np.mean(
            np.array(js) > 0.5))}
        results[ckpt] = r
        print(ckpt, r, flush=True)
    save("memory_probe", {"data": opts.data, "videos": names, "checkpoints": results})


if __name__ == "__main__":
    main()
