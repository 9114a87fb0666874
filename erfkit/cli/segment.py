"""Segment videos with a checkpoint and write one indexed PNG per frame (DAVIS layout).

Examples:
  erfkit segment --checkpoint checkpoints/stm-tiny-cyclic --data data/synth --split val --out runs/res
  erfkit segment --checkpoint C --frames my_video/ --mask first.png --out res/
  erfkit segment --checkpoint C --data ytvos --youtube --split valid --out res/
  erfkit segment --checkpoint C --data data/synth --out res --gc-iters 10 --gc-rate 180 --gc-every 5
  erfkit segment --checkpoint C --data DAVIS --out res --size 240x427   (or --size native)

A re-run with the same settings skips the videos already complete (so an
interrupted run continues); --overwrite replaces results of other settings.
"""

from __future__ import annotations

import argparse

HELP = "segment videos (a DAVIS-layout split, or a folder of frames and a first mask)"


def add_size_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", default="checkpoint", metavar="HxW|native",
                   help="network input size: HxW (frames letterboxed, e.g. 240x427), native (the file's size), "
                        "or checkpoint (default: the size the checkpoint was trained at); outputs are at the file's size")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory", default="mem", help="reference set: first, previous, first+previous, mem (default)")
    p.add_argument("--mem-every", type=int, default=5, help="with --memory mem: memorise every N-th frame (5)")
    p.add_argument("--memory-cap", type=int, default=None, help="most frames in memory (first frame always kept)")
    p.add_argument("--gc-iters", type=int, default=0, help="gradient correction steps N (0: off)")
    p.add_argument("--gc-rate", type=float, default=180.0, help="gradient correction rate alpha (180)")
    p.add_argument("--gc-every", type=int, default=5, help="correct every K-th frame (5)")
    p.add_argument("--gc-bootstrap", type=float, default=0.4,
                   help="fraction of hardest pixels in GC's cross-entropy (0.4: the authors' loss; 1: plain mean)")
    p.add_argument("--gc-save", choices=["corrected", "uncorrected"], default="corrected",
                   help="which mask to write when correcting (default: corrected; memory always gets it)")
    p.add_argument("--max-objects", type=int, default=32, help="refuse masks with more objects (32)")
    add_size_argument(p)
    p.add_argument("--device", default="auto", help="cpu, cuda, mps or auto")


def build_predictor(args: argparse.Namespace):
    from ..inference import GCConfig, VideoPredictor
    from ..model.checkpoint import load_checkpoint

    model = load_checkpoint(args.checkpoint, device=args.device)
    gc = GCConfig(iters=args.gc_iters, rate=args.gc_rate, every=args.gc_every, save=args.gc_save,
                  bootstrap=args.gc_bootstrap)
    return VideoPredictor(model, memory=args.memory, mem_every=args.mem_every, max_memory_frames=args.memory_cap,
                          gc=gc, max_objects=args.max_objects, size=args.size)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="our .safetensors (or folder), or a foreign STM checkpoint")
    p.add_argument("--copy-first", action="store_true",
                   help="no model: copy the first-frame mask to every frame (the trivial floor)")
    p.add_argument("--feature-propagation", action="store_true",
                   help="no training: propagate the first-frame mask with ImageNet EfficientNet-Lite0 features "
                        "(the training-free reference)")
    src = p.add_argument_group("input (one of)")
    src.add_argument("--data", help="DAVIS-layout dataset root")
    src.add_argument("--frames", help="folder of frames (with --mask)")
    p.add_argument("--mask", help="first-frame index mask (with --frames)")
    p.add_argument("--youtube", action="store_true", help="--data is a YouTube-VOS layout (meta.json)")
    p.add_argument("--split", default=None, help="ImageSets/2017 list (default val; YouTube-VOS: valid)")
    p.add_argument("--resolution", default=None, help="resolution folder (found when only one)")
    p.add_argument("--sequences", default=None, help="comma-separated subset of the split")
    p.add_argument("--out", required=True, help="results folder (<sequence>/<frame>.png)")
    p.add_argument("--overwrite", action="store_true", help="replace results made with other settings")
    p.add_argument("--eval", action="store_true", help="then evaluate J&F (DAVIS layout)")
    add_model_arguments(p)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import ConfigError

    if bool(args.data) == bool(args.frames):
        raise ConfigError("give either --data ROOT or --frames DIR --mask FIRST.png")
    if args.frames and not args.mask:
        raise ConfigError("--frames needs --mask FIRST.png")
    if int(bool(args.checkpoint)) + int(args.copy_first) + int(args.feature_propagation) != 1:
        raise ConfigError("give one of --checkpoint, --copy-first (the trivial floor) or --feature-propagation "
                          "(the training-free reference)")
    from ..inference import CopyFirst, FeaturePropagation

    if args.copy_first:
        predictor = CopyFirst()
    elif args.feature_propagation:
        predictor = FeaturePropagation(device=args.device)
    else:
        predictor = build_predictor(args)
    from ..inference.runner import segment_dataset

    if args.data:
        if args.youtube:
            from ..data.youtube import YouTubeVOSDataset

            args.split = args.split or "valid"
            ds = YouTubeVOSDataset(args.data, args.split)
        else:
            from ..data.davis import DavisDataset

            args.split = args.split or "val"
            ds = DavisDataset(args.data, args.split, args.resolution)
        names = ds.names
        if args.sequences:
            wanted = [s.strip() for s in args.sequences.split(",") if s.strip()]
            missing = [w for w in wanted if w not in names]
            if missing:
                raise ConfigError(f"not in split {args.split!r}: {', '.join(missing)}")
            names = wanted
        seqs = (ds[n] for n in names)
        stats = segment_dataset(predictor, seqs, args.out, overwrite=args.overwrite, total=len(names))
    else:
        from ..data.folder import folder_sequence

        seq = folder_sequence(args.frames, args.mask)
        stats = segment_dataset(predictor, [seq], args.out, overwrite=args.overwrite, total=1)
    print(f"segmented {stats.frames} frames of {stats.sequences} videos at {stats.fps:.1f} frames/s "
          f"({stats.skipped} already complete) into {Path(args.out)}")
    if args.eval:
        if not args.data or args.youtube:
            raise ConfigError("--eval needs --data with a DAVIS layout (YouTube-VOS: erfkit eval --youtube)")
        from ..evaluation.davis import evaluate_davis

        res = evaluate_davis(args.data, args.out, args.split, resolution=args.resolution,
                             sequences=names if args.sequences else None)
        res.write_csv(args.out)
        print(res.table())
    return 0
