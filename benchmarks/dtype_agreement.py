"""bfloat16 against float32: how close are the maps of `erfkit erf --dtype bfloat16`?

The same atlas (cycle-ERF with M = 50, both classic ERFs) of the benchmark
video is built twice with the shipped stm-tiny-cyclic checkpoint, once in
float32 and once under bfloat16 autocast, and every map of every frame and
object is compared: Spearman rank correlation over the pixels, the relative
L1 difference (sum |a - b| / sum |a|), and the overlap of the top 10% pixels.
Also the time of each build.  On a CPU bfloat16 is emulated and slow; the
figures that matter for speed come from a GPU (``--device cuda``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from erfkit.explain import AtlasConfig, build_atlas
from erfkit.model.checkpoint import load_checkpoint

from .common import ROOT, benchmark_video, save

KEYS = ("cycle", "erf_memory", "erf_query")


def top_overlap(a: np.ndarray, b: np.ndarray, share: float = 0.1) -> float:
    """The share of ``a``'s top ``share`` pixels that are also among ``b``'s."""
    k = max(1, int(share * a.size))
    ta, tb = np.argsort(a.ravel())[-k:], np.argsort(b.ravel())[-k:]
    return len(np.intersect1d(ta, tb)) / k


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--frames", type=int, default=8)
    args = p.parse_args()
    seq = benchmark_video()
    model = load_checkpoint(ROOT / "checkpoints" / "stm-tiny-cyclic", device=args.device)
    frames = list(range(1, 1 + args.frames))
    seconds, atlases = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("float32", "bfloat16"):
            cfg = AtlasConfig(methods=("cycle", "classic"), metrics_every=0, sanity_every=0, dtype=dtype)
            t0 = time.perf_counter()
            atlases[dtype] = build_atlas(model, seq, Path(tmp) / dtype, cfg, frames=frames, progress=False)
            seconds[dtype] = time.perf_counter() - t0
        out = {}
        for key in KEYS:
            rho, rel, top = [], [], []
            for i in frames:
                a = atlases["float32"].load(i, [key])[key].astype(np.float64)
                b = atlases["bfloat16"].load(i, [key])[key].astype(np.float64)
                for k in range(a.shape[0]):
                    rho.append(float(spearmanr(a[k].ravel(), b[k].ravel())[0]))
                    rel.append(float(np.abs(a[k] - b[k]).sum() / max(np.abs(a[k]).sum(), 1e-12)))
                    top.append(top_overlap(a[k], b[k]))
            out[key] = {"spearman_median": statistics.median(rho), "spearman_min": min(rho),
                        "relative_l1_median": statistics.median(rel), "top10_overlap_median": statistics.median(top),
                        "maps": len(rho)}
    save("dtype_agreement", {"device": args.device, "model": "stm-tiny-cyclic", "sequence": seq.name,
                             "frames": len(frames), "size": f"{seq.size[0]}x{seq.size[1]} file, checkpoint's input",
                             "seconds": seconds, "maps": out})


if __name__ == "__main__":
    main()
