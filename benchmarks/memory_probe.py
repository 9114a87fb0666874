"""Does a checkpoint find an object in the very frame it has memorised?

The easiest question a memory network can be asked: its memory holds frame 0
with its ground-truth mask, and the query is frame 0 again.  A model that reads
its memory by matching finds every object (J near 1); a model that segments
what stands out in the frame, or what sits where objects usually sit, does not.
Models that fail this cannot track, whatever else they score.

The same probe at the level of the read (first object of each video): where do
the query cells read?  ``object_reads_object``: the read weight that query
cells inside the object put on memory cells inside it; ``background_reads_object``:
the same for query cells outside it; ``area``: the object's share of the cells,
what a read that ignores the image puts there.  Matching: the first near 1, the
second near 0.  Objects smaller than a cell (no cell half covered) are left out.

    python -m benchmarks.memory_probe --checkpoints stm-tiny-baseline,stm-tiny-cyclic --data data/tracks
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from erfkit.data.davis import DavisDataset
from erfkit.data.letterbox import Letterbox
from erfkit.evaluation.measures import jaccard
from erfkit.inference import VideoPredictor
from erfkit.model.checkpoint import load_checkpoint
from erfkit.model.stm import memory_weights
from erfkit.tensors import frame_tensor, onehot

from .common import save, synth_data
from .real_video import CHECKPOINTS, FRAMES, SEQUENCES, checkpoint_paths


@torch.no_grad()
def probe(predictor: VideoPredictor, video) -> tuple[list[float], dict]:
    """Memory: frame 0 with its mask; query: frame 0.  J of each object, and where the query cells read
    (``object_reads_object``, ``background_reads_object`` and ``area``, see the module) for the first object."""
    frame, mask = video.read_frame(0), video.prompt(0)
    ids = sorted(int(i) for i in np.unique(mask) if 0 < i < 255)
    predictor.reset()
    predictor.step(frame, mask)
    reads = _reads(predictor, frame, mask, ids[0])
    labels = predictor.labels(predictor.step(frame))
    return [float(jaccard(labels == k, mask == k)) for k in ids], reads


def _reads(predictor: VideoPredictor, frame: np.ndarray, mask: np.ndarray, first: int) -> dict:
    memory, _ = predictor.current_memory()
    x = frame_tensor(frame, predictor.device, predictor.dtype)
    box = Letterbox.fit(tuple(x.shape[-2:]), predictor.size)
    query = predictor.model.encode_query(box.image(x))
    obj = box.mask(onehot(mask, [first], predictor.device, predictor.dtype))[:, 1:]
    left, right, top, bottom = query.pad
    stride = (obj.shape[-2] + top + bottom) // query.key.shape[-2]
    cells = F.avg_pool2d(F.pad(obj, (left, right, top, bottom)), stride).flatten() > 0.5  # [h*w]
    if not cells.any():
        return {"area": 0.0}
    slot = predictor.object_ids.index(first)
    p = memory_weights(memory.select([slot]), query.key)[0, 0].double()  # [memory cells, query cells]
    on_object = p[cells].sum(0)  # per query cell, its weight on the object's memory cells
    return {"object_reads_object": float(on_object[cells].mean()),
            "background_reads_object": float(on_object[~cells].mean()), "area": float(cells.double().mean())}


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
        on_real = {s: probe(predictor, real[s]) for s in SEQUENCES}
        r = {"real": {s: js[0] for s, (js, _) in on_real.items()},
             "reads_real": {s: reads for s, (_, reads) in on_real.items()}}
        on_synth = [probe(predictor, synth[n]) for n in names]
        js = [j for video_js, _ in on_synth for j in video_js]
        reads = [video_reads for _, video_reads in on_synth]
        r["synthetic"] = {"objects": len(js), "mean_J": float(np.mean(js)), "share_above_half": float(np.mean(
            np.array(js) > 0.5))}
        reads = [m for m in reads if m["area"] > 0]
        r["reads_synthetic"] = {"objects": len(reads), **{k: float(np.mean([m[k] for m in reads])) for k in reads[0]}}
        results[ckpt] = r
        print(ckpt, r, flush=True)
    save("memory_probe", {"data": opts.data, "videos": names, "checkpoints": results})


if __name__ == "__main__":
    main()
