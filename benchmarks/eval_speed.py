"""Evaluator speed on a DAVIS 2017 val-sized input, side by side, 2 workers.

Ground truth: the 30 real DAVIS-shaped mask sequences of ../shared (1999
frames, 61 objects).  Results: shifted copies of them.  Compared:

* erfkit's evaluator;
* vos-benchmark (PyPI), a fast public re-implementation;
* the official toolkit's algorithm re-implemented literally here (per object
  and frame: seg2bmap, cv2.dilate with a disk, as davis2017-evaluation does;
  the toolkit itself is not on PyPI), in 2 processes.

Each is run 3 times; medians are reported, with the J&F each computes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from erfkit.data.masks import read_mask, write_mask
from erfkit.evaluation.davis import DavisResults, SequenceScores, evaluate_davis
from erfkit.evaluation.measures import f_measure_reference, jaccard

from .common import ROOT, median_time, save


def shared_masks() -> Path:
    env = os.environ.get("ERFKIT_SHARED")
    return (Path(env) if env else ROOT.parent / "shared") / "data" / "davis2017-val-osvos-masks"


def make_input(work: Path) -> tuple[Path, Path]:
    src = shared_masks()
    root, res = work / "DAVIS", work / "results"
    names = sorted(p.name for p in src.iterdir() if p.is_dir())
    (root / "Annotations" / "480p").mkdir(parents=True)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("".join(n + "\n" for n in names))
    for n in names:
        (root / "Annotations" / "480p" / n).symlink_to(src / n, target_is_directory=True)
        for f in sorted((src / n).glob("*.png")):
            write_mask(res / n / f.name, np.roll(read_mask(f), (4, -6), axis=(0, 1)))
    return root, res


def _cv2_dilate(boundary: np.ndarray, disk: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.dilate(boundary.astype(np.uint8), disk.astype(np.uint8)).astype(bool)


def _official_sequence(args: tuple[Path, Path]) -> SequenceScores:
    """davis2017-evaluation's semi-supervised loop: every object and frame, boundaries dilated with cv2."""
    gt_dir, res_dir = args
    files = sorted(gt_dir.glob("*.png"))
    gt = np.stack([read_mask(f) for f in files])
    gt[gt == 255] = 0
    K = int(gt[0].max())
    ev = files[1:-1]
    res = np.stack([read_mask(res_dir / f.name) for f in ev])
    J = np.zeros((K, len(ev)))
    F = np.zeros((K, len(ev)))
    for k in range(1, K + 1):
        for i in range(len(ev)):
            a, b = res[i] == k, gt[i + 1] == k
            J[k - 1, i] = jaccard(a, b)
            F[k - 1, i] = f_measure_reference(a, b, dilate=_cv2_dilate)
    return SequenceScores(gt_dir.name, [f.stem for f in ev], J, F)


def official_algorithm(root: Path, res: Path, workers: int = 2) -> DavisResults:
    names = (root / "ImageSets" / "2017" / "val.txt").read_text().split()
    jobs = [(root / "Annotations" / "480p" / n, res / n) for n in names]
    with get_context("fork").Pool(workers) as pool:
        out = pool.map(_official_sequence, jobs)
    return DavisResults("val", out)


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    import vos_benchmark.benchmark as vos

    with tempfile.TemporaryDirectory() as tmp:
        root, res = make_input(Path(tmp))
        frames = sum(len(list(p.glob("*.png"))) for p in (root / "Annotations" / "480p").iterdir())
        box: dict = {}

        def ours():
            box["ours"] = evaluate_davis(root, res, "val", workers=2, progress=False)

        def theirs():
            box["vos"] = vos.benchmark([str(root / "Annotations" / "480p")], [str(res)], num_processes=2,
                                       verbose=False)

        def official():
            box["official"] = official_algorithm(root, res, 2)

        t_ours, all_ours = median_time(ours, repeats=3)
        t_vos, all_vos = median_time(theirs, repeats=3)
        t_off, all_off = median_time(official, repeats=3, warmup=0)
        objects = len(box["ours"].per_object())
        save("eval_speed", {
            "frames": frames, "sequences": len(box["ours"].sequences), "objects": objects, "workers": 2,
            "seconds": {"erfkit": t_ours, "vos-benchmark": t_vos, "official algorithm": t_off},
            "all_seconds": {"erfkit": all_ours, "vos-benchmark": all_vos, "official algorithm": all_off},
            "speedup_vs_official_algorithm": t_off / t_ours, "speedup_vs_vos_benchmark": t_vos / t_ours,
            "jf": {"erfkit": box["ours"].jf, "official algorithm": box["official"].jf,
                   "vos-benchmark": box["vos"][0][0] / 100},
        })


if __name__ == "__main__":
    main()
