"""Evaluator speed on a DAVIS 2017 val-sized input, side by side.

Ground truth: the 30 real DAVIS-shaped mask sequences of ../shared (1999
frames, 61 objects).  Results: shifted copies of them.  Compared:

* erfkit's evaluator, 2 worker processes;
* vos-benchmark (PyPI), a fast public re-implementation, 2 processes;
* the official toolkit (davis2017-evaluation), which is not on PyPI, so its
  computation is re-implemented here the way it does it: one process; every
  mask decoded with PIL into a float64 stack; objects separated by float64
  broadcasting against 1..K; J vectorised per object over frames; F frame by
  frame with seg2bmap and cv2.dilate with a disk.

Each is run 3 times; medians are reported, with the J&F each computes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from erfkit.data.masks import read_mask, write_mask
from erfkit.evaluation.davis import DavisResults, SequenceScores, evaluate_davis
from erfkit.evaluation.measures import f_measure_reference

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


def _stack(files: list[Path]) -> np.ndarray:
    """As the toolkit reads a sequence: PIL, into a float64 stack."""
    from PIL import Image

    first = np.array(Image.open(files[0]))
    masks = np.zeros((len(files), *first.shape))
    for i, f in enumerate(files):
        masks[i] = np.array(Image.open(f))
    return masks


def _separate(masks: np.ndarray, n: int) -> np.ndarray:
    """As the toolkit separates objects: float64 broadcasting against 1..n."""
    tmp = np.ones((n, *masks.shape)) * np.arange(1, n + 1)[:, None, None, None]
    return (tmp == masks[None, ...]) > 0


def _official_sequence(gt_dir: Path, res_dir: Path) -> SequenceScores:
    files = sorted(gt_dir.glob("*.png"))
    masks = _stack(files)
    masks[masks == 255] = 0
    K = int(masks[0].max())
    gt = _separate(masks, K)[:, 1:-1]
    ev = files[1:-1]
    res_masks = _stack([res_dir / f.name for f in ev])
    res = _separate(res_masks, int(res_masks.max()))
    if res.shape[0] < K:
        res = np.concatenate([res, np.zeros((K - res.shape[0], *res.shape[1:]), bool)])
    J = np.zeros((K, len(ev)))
    F = np.zeros((K, len(ev)))
    for k in range(K):
        inter = (res[k] & gt[k]).sum(axis=(-2, -1))
        union = (res[k] | gt[k]).sum(axis=(-2, -1))
        J[k] = np.where(np.isclose(union, 0), 1.0, inter / np.maximum(union, 1))
        for i in range(len(ev)):
            F[k, i] = f_measure_reference(res[k, i], gt[k, i], dilate=_cv2_dilate)
    return SequenceScores(gt_dir.name, [f.stem for f in ev], J, F)


def official_algorithm(root: Path, res: Path) -> DavisResults:
    names = (root / "ImageSets" / "2017" / "val.txt").read_text().split()
    return DavisResults("val", [_official_sequence(root / "Annotations" / "480p" / n, res / n) for n in names])


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
            box["official"] = official_algorithm(root, res)

        t_ours, all_ours = median_time(ours, repeats=3)
        t_vos, all_vos = median_time(theirs, repeats=3)
        t_off, all_off = median_time(official, repeats=3, warmup=0)
        objects = len(box["ours"].per_object())
        save("eval_speed", {
            "frames": frames, "sequences": len(box["ours"].sequences), "objects": objects,
            "workers": {"erfkit": 2, "vos-benchmark": 2, "official algorithm": 1},
            "seconds": {"erfkit": t_ours, "vos-benchmark": t_vos, "official algorithm": t_off},
            "all_seconds": {"erfkit": all_ours, "vos-benchmark": all_vos, "official algorithm": all_off},
            "speedup_vs_official_algorithm": t_off / t_ours, "speedup_vs_vos_benchmark": t_vos / t_ours,
            "jf": {"erfkit": box["ours"].jf, "official algorithm": box["official"].jf,
                   "vos-benchmark": box["vos"][0][0] / 100},
        })


if __name__ == "__main__":
    main()
