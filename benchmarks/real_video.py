"""J&F of the shipped checkpoints on two REAL videos, scored against PSEUDO ground truth (OSVOS masks).

The videos are DAVIS 2017 val `dog` (60 frames) and `drift-straight` (50
frames), 480x854, of which only the first frame's ground truth is available
(`../shared/data/davis2017-val-real-frames`).  The other frames are scored
against the OSVOS masks of the same sequences (`../shared/data/davis2017-val-osvos-masks`):
a method's predictions, realistic but not exact, so every number here is a J&F
against pseudo ground truth, not a DAVIS score.

A DAVIS root is built in a temporary folder (links, nothing copied):
JPEGImages = the real frames; Annotations = the real ground truth for frame
00000 and the OSVOS masks for the others.  Every J&F is reported twice: over
every frame, and under erfkit's pseudo ground-truth rule
(:data:`erfkit.evaluation.PSEUDO_TRUTH_RULE`), which leaves out OSVOS's failed
masks (`dog` frames 14, 23, 40-49 cover 83-99% of the frame).  Then, for each
checkpoint (default: the pair stm-lite0-baseline, stm-lite0-cyclic), at the default size (the checkpoint's,
240x427: frames letterboxed) and at native 480x854, without and with gradient
correction (`--gc-iters 10`):

    erfkit segment --checkpoint <ckpt> --data <root> --out <dir> --size checkpoint|native [--gc-iters 10]

and the floor `erfkit segment --copy-first --data <root> --out <dir>` (the
first-frame mask copied to every frame), and the training-free reference
`erfkit segment --feature-propagation ...` (the first mask propagated with the
ImageNet EfficientNet-Lite0 features, :class:`erfkit.inference.FeaturePropagation`).  The masks are evaluated with
erfkit's DAVIS evaluator (first and last frame excluded).

With ``--synthetic ROOT`` every setting is also scored on the val split of a
synthetic benchmark (`erfkit segment ... --data ROOT`, the floor too), so that
real and synthetic J&F stand side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from erfkit.cli import main as cli
from erfkit.evaluation import PSEUDO_TRUTH_RULE, evaluate_davis
from erfkit.inference.runner import RUN_MANIFEST

from .common import ROOT, save

SHARED = Path(os.environ.get("ERFKIT_SHARED") or ROOT.parent / "shared") / "data"  # as tests/conftest.py
FRAMES = SHARED / "davis2017-val-real-frames"
OSVOS = SHARED / "davis2017-val-osvos-masks"
SEQUENCES = ("dog", "drift-straight")
CHECKPOINTS = ("stm-lite0-baseline", "stm-lite0-cyclic")
SIZES = ("checkpoint", "native")
GC_ITERS = (0, 10)
GROUND_TRUTH = ("pseudo ground truth (OSVOS): frame 00000 is the real DAVIS ground truth, every later frame is "
                "the OSVOS mask of that frame (a method's prediction, not ground truth)")


def pseudo_root(dest: Path) -> Path:
    """A DAVIS root of the real frames with OSVOS masks as pseudo ground truth after frame 00000 (all links)."""
    for seq in SEQUENCES:
        frames = sorted((FRAMES / "JPEGImages" / "480p" / seq).glob("*.jpg"))
        jpg, ann = dest / "JPEGImages" / "480p" / seq, dest / "Annotations" / "480p" / seq
        jpg.mkdir(parents=True)
        ann.mkdir(parents=True)
        for i, f in enumerate(frames):
            (jpg / f.name).symlink_to(f)
            mask = FRAMES / "Annotations" / "480p" / seq / "00000.png" if i == 0 else OSVOS / seq / f"{f.stem}.png"
            if not mask.is_file():
                raise FileNotFoundError(f"no mask for {seq}/{f.name}: {mask}")
            (ann / f"{f.stem}.png").symlink_to(mask)
    (dest / "ImageSets" / "2017").mkdir(parents=True)
    (dest / "ImageSets" / "2017" / "val.txt").write_text("".join(s + "\n" for s in SEQUENCES))
    return dest


def checkpoint_paths(spec: str) -> list[tuple[str, Path]]:
    """``"a,LABEL=path,..."`` -> ``[(label, path)]``: names under checkpoints/ or paths, each maybe labelled."""
    out = []
    for item in spec.split(","):
        label, _, where = item.rpartition("=") if "=" in item else (item, "", item)
        out.append((label, ROOT / "checkpoints" / where if (ROOT / "checkpoints" / where).exists() else Path(where)))
    return out


def _scores(res) -> tuple[dict, dict]:
    videos = {}
    for name, st in res.per_object():
        seq = name.rsplit("_", 1)[0]
        videos[seq] = {"J&F": (st["J-Mean"] + st["F-Mean"]) / 2, "J": st["J-Mean"], "F": st["F-Mean"]}
    g = res.global_scores()
    return videos, {"J&F": g["J&F-Mean"], "J": g["J-Mean"], "F": g["F-Mean"]}


def run(args: list[str], data: Path, out: Path, pseudo_truth: bool = False) -> dict:
    """Segment the val split of ``data`` with ``args``, evaluate, and return J&F per video and the mean.

    ``pseudo_truth``: also score under the pseudo ground-truth rule (``"ruled"``: its videos, mean and
    the frames it left out).
    """
    t0 = time.perf_counter()
    assert cli(["segment", *args, "--data", str(data), "--out", str(out), "--overwrite"]) == 0
    seconds = time.perf_counter() - t0
    videos, mean = _scores(evaluate_davis(data, out, "val", progress=False))
    settings = json.loads((out / RUN_MANIFEST).read_text())
    result = {"args": args, "input_size": settings.get("size", "file size (no model)"), "videos": videos,
              "mean": mean, "seconds": seconds}
    if pseudo_truth:
        res = evaluate_davis(data, out, "val", progress=False, pseudo_truth=PSEUDO_TRUTH_RULE)
        videos, mean = _scores(res)
        result["ruled"] = {"rule": PSEUDO_TRUTH_RULE.describe(), "left_out": res.left_out(), "videos": videos,
                           "mean": mean}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default=",".join(CHECKPOINTS),
                        help="comma-separated names under checkpoints/ or paths, each maybe LABEL=PATH (default: %(default)s)")
    parser.add_argument("--sizes", default=",".join(SIZES), help="checkpoint and/or native (default: %(default)s)")
    parser.add_argument("--gc-iters", default=",".join(map(str, GC_ITERS)),
                        help="gradient-correction steps to try (default: %(default)s)")
    parser.add_argument("--memories", default="mem",
                        help="memory strategies to try (erfkit segment --memory; default: %(default)s)")
    parser.add_argument("--synthetic", type=Path, default=None,
                        help="also score every setting on this synthetic benchmark's val split (e.g. data/tracks)")
    parser.add_argument("--name", default="real_video", help="result file under benchmarks/results (without .json)")
    opts = parser.parse_args()
    settings: dict[str, list[str]] = {"copy-first (floor)": ["--copy-first"],
                                      "ImageNet features, no training": ["--feature-propagation"]}
    for ckpt, path in checkpoint_paths(opts.checkpoints):
        for size in opts.sizes.split(","):
            if size not in SIZES:
                parser.error(f"--sizes: {size!r} is not one of {', '.join(SIZES)}")
            for memory in opts.memories.split(","):
                for gc in map(int, opts.gc_iters.split(",")):
                    label = f"{ckpt}, {'240x427 (default)' if size == 'checkpoint' else '480x854 (native)'}, " \
                            f"{'GC %d' % gc if gc else 'no GC'}" + ("" if memory == "mem" else f", memory {memory}")
                    settings[label] = ["--checkpoint", str(path), "--size", size, "--gc-iters", str(gc),
                                       "--memory", memory]
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = pseudo_root(Path(tmp) / "DAVIS")
        frames = {s: len(list((data / "JPEGImages" / "480p" / s).iterdir())) for s in SEQUENCES}
        for i, (label, args) in enumerate(settings.items()):
            print(f"[{i + 1}/{len(settings)}] {label}", flush=True)
            runs[label] = run(args, data, Path(tmp) / f"run{i}", pseudo_truth=True)
            print(f"    J&F {runs[label]['mean']['J&F']:.3f}, under the pseudo-truth rule "
                  f"{runs[label]['ruled']['mean']['J&F']:.3f} ({runs[label]['seconds']:.0f} s)", flush=True)
            if opts.synthetic is not None:
                r = run(args, opts.synthetic, Path(tmp) / f"synth{i}")  # its val split, as the real root's
                runs[label]["synthetic"] = {"root": str(opts.synthetic), "videos": len(r["videos"]), **r["mean"]}
                print(f"    synthetic val J&F {runs[label]['synthetic']['J&F']:.3f}", flush=True)
    save(opts.name, {"ground_truth": GROUND_TRUTH, "sequences": frames, "frame_size": [480, 854],
                        "runs": runs}, module="real_video")


if __name__ == "__main__":
    main()
