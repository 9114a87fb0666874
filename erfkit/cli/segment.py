"""Segment videos with a checkpoint and write one indexed PNG per frame (DAVIS layout).

Examples:
  erfkit segment --checkpoint checkpoints/stm-tiny-cyclic --data data/synth --split val --out runs/res
  erfkit segment --checkpoint C --frames my_video/ --mask first.png --out res/
  erfkit segment --checkpoint C --data ytvos --youtube --split valid --out res/
  erfkit segment --checkpoint C --data data/synth --out res --gc-iters 10 --gc-rate 180 --gc-every 5
  erfkit segment --checkpoint C --data DAVIS --out res --size 240x427   (or --size native)
  erfkit segment --checkpoint XMem.pth --data DAVIS --out res --top-k 30 --mem-every 5

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


#: XMem's memory flags -> XMemMemoryConfig fields (defaults: XMem's eval.py).
XMEM_FLAGS = {"--top-k": "top_k", "--deep-update-every": "deep_update_every", "--no-long-term": "enable_long_term",
              "--num-prototypes": "num_prototypes", "--min-mid-term-frames": "min_mid_term_frames",
              "--max-mid-term-frames": "max_mid_term_frames", "--max-long-term-elements": "max_long_term_elements"}
#: STM's predictor flags -> their defaults (given with an XMem checkpoint: an error).
STM_FLAGS = {"--memory": "mem", "--memory-cap": None}
#: gradient correction's flags -> their defaults (any family).
GC_FLAGS = {"--gc-iters": 0, "--gc-rate": 180.0, "--gc-every": 5, "--gc-bootstrap": 0.4, "--gc-save": "corrected"}


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    # STM's options default to None here so that giving one to an XMem can be refused; build_predictor
    # fills in the defaults the help names.
    p.add_argument("--memory", default=None, help="STM: reference set: first, previous, first+previous, mem (default)")
    p.add_argument("--mem-every", type=int, default=None,
                   help="memorise every N-th frame (5; STM: with --memory mem; XMem: r in its paper)")
    p.add_argument("--memory-cap", type=int, default=None, help="STM: most frames in memory (first frame always kept)")
    p.add_argument("--gc-iters", type=int, default=None, help="gradient correction steps N (0: off)")
    p.add_argument("--gc-rate", type=float, default=None, help="gradient correction rate alpha (180)")
    p.add_argument("--gc-every", type=int, default=None, help="correct every K-th frame (5)")
    p.add_argument("--gc-bootstrap", type=float, default=None,
                   help="fraction of hardest pixels in GC's cross-entropy (0.4: the authors' loss; 1: plain mean)")
    p.add_argument("--gc-save", choices=["corrected", "uncorrected"], default=None,
                   help="which mask to write when correcting (default: corrected; memory always gets it)")
    x = p.add_argument_group("XMem checkpoints (defaults: XMem's eval.py)")
    x.add_argument("--top-k", type=int, default=None, help="memory cells each query pixel reads (30)")
    x.add_argument("--deep-update-every", type=int, default=None,
                   help="deep update of the sensory memory every N frames (-1: with every memorised frame)")
    x.add_argument("--no-long-term", action="store_true", help="no long-term memory: working memory grows")
    x.add_argument("--num-prototypes", type=int, default=None, help="P: prototypes per consolidation (128)")
    x.add_argument("--min-mid-term-frames", type=int, default=None,
                   help="T_min: working-memory frames kept after a consolidation (5)")
    x.add_argument("--max-mid-term-frames", type=int, default=None,
                   help="T_max: working-memory frames that trigger a consolidation (10)")
    x.add_argument("--max-long-term-elements", type=int, default=None, help="LT_max: most long-term elements (10000)")
    p.add_argument("--max-objects", type=int, default=32, help="refuse masks with more objects (32)")
    add_size_argument(p)
    p.add_argument("--device", default="auto", help="cpu, cuda, mps or auto")


def _given(args: argparse.Namespace, flags) -> list[str]:
    """The flags among ``flags`` that were given on the command line (not left at None / off)."""
    return [f for f in flags if getattr(args, f[2:].replace("-", "_")) not in (None, False)]


def build_predictor(args: argparse.Namespace):
    from ..errors import ConfigError
    from ..inference import VideoPredictor
    from ..model import XMem
    from ..model.checkpoint import load_checkpoint

    model = load_checkpoint(args.checkpoint, device=args.device)
    if isinstance(model, XMem):
        stm_only = _given(args, STM_FLAGS)
        if stm_only:
            raise ConfigError(f"{', '.join(stm_only)}: STM options; {args.checkpoint} is an XMem, which reads its "
                              f"memory as XMem does (see {', '.join(XMEM_FLAGS)} and --mem-every)")
        settings = {XMEM_FLAGS[f]: getattr(args, f[2:].replace("-", "_")) for f in _given(args, XMEM_FLAGS)
                    if f != "--no-long-term"}
        if args.no_long_term:
            settings.update(enable_long_term=False, enable_long_term_count_usage=False)
        if args.mem_every is not None:
            settings["mem_every"] = args.mem_every
        try:
            return VideoPredictor(model, max_objects=args.max_objects, size=args.size, gc=_gc_config(args),
                                  **settings)
        except ConfigError as e:  # name our flag for a setting of XMemMemoryConfig
            flag = {**{v: k for k, v in XMEM_FLAGS.items()}, "mem_every": "--mem-every"}.get(e.option or "")
            if flag is None:
                raise
            raise ConfigError(f"{e.message} (see {flag})", e.path) from e
    xmem_only = _given(args, XMEM_FLAGS)
    if xmem_only:
        raise ConfigError(f"{', '.join(xmem_only)}: XMem's memory options; {args.checkpoint} is not an XMem")
    d = _with_defaults(args, STM_FLAGS)
    mem_every = 5 if args.mem_every is None else args.mem_every
    return VideoPredictor(model, memory=d["memory"], mem_every=mem_every, max_memory_frames=d["memory_cap"],
                          gc=_gc_config(args), max_objects=args.max_objects, size=args.size)


def _with_defaults(args: argparse.Namespace, flags: dict) -> dict:
    """``{name: value}`` of ``flags``: what was given, else the flag's default."""
    d = {f[2:].replace("-", "_"): v for f, v in flags.items()}
    d.update({k: getattr(args, k) for k in d if getattr(args, k) is not None})
    return d


def _gc_config(args: argparse.Namespace):
    from ..inference import GCConfig

    d = _with_defaults(args, GC_FLAGS)
    return GCConfig(iters=d["gc_iters"], rate=d["gc_rate"], every=d["gc_every"], save=d["gc_save"],
                    bootstrap=d["gc_bootstrap"])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="our .safetensors (or folder), a foreign STM checkpoint or XMem's weights "
                                       "(XMem.pth: XMem's inference and memory)")
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
