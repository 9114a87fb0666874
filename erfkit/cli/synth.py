"""Make the synthetic DAVIS-layout benchmark from scikit-image's photographs.

Examples:
  erfkit synth data/synth                       # the default benchmark (60 + 20 videos)
  erfkit synth /tmp/tiny --preset tiny
  erfkit synth data/hard --preset hard --videos 40 --frames 48 --size 240x427 --seed 3
  erfkit synth data/tracks --preset tracks      # real object shapes and motion (needs the OSVOS masks)
"""

from __future__ import annotations

import argparse
import dataclasses

from ..errors import ConfigError

HELP = "make the synthetic benchmark (DAVIS layout)"


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like 240x427, not {text!r}") from None
    return h, w


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output folder (must not exist unless --force)")
    p.add_argument("--preset", default="default",
                   help="default, tiny, hard or tracks (real object shapes and motion; see SynthConfig)")
    p.add_argument("--videos", type=int, help="number of videos; split 3:1 into train and val")
    p.add_argument("--frames", type=int, help="frames per video")
    p.add_argument("--size", help="frame size HxW, e.g. 240x427")
    p.add_argument("--seed", type=int, help="random seed (same seed: byte-identical files)")
    p.add_argument("--workers", type=int, help="processes (the output does not depend on it)")
    p.add_argument("--tracks-root", help="the 'tracks' preset: folder of real mask sequences (default: the OSVOS "
                   "masks of DAVIS 2017 val beside the checkout, ../shared/data/davis2017-val-osvos-masks)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")


def run(args: argparse.Namespace) -> int:
    from ..data.synth import SYNTH_PRESETS, make_synth

    if args.preset not in SYNTH_PRESETS:
        raise ConfigError(f"unknown preset {args.preset!r}; choose from {', '.join(SYNTH_PRESETS)}")
    cfg = SYNTH_PRESETS[args.preset]
    changes: dict = {}
    if args.videos is not None:
        if args.videos < 2:
            raise ConfigError("--videos must be at least 2 (one train, one val)")
        val = max(1, round(args.videos / 4))
        changes.update(train_videos=args.videos - val, val_videos=val)
    if args.frames is not None:
        changes["frames"] = args.frames
    if args.size is not None:
        changes["height"], changes["width"] = parse_size(args.size)
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.tracks_root is not None:
        if cfg.shapes != "tracks":
            raise ConfigError("--tracks-root is for the 'tracks' preset")
        changes["tracks_root"] = args.tracks_root
    cfg = dataclasses.replace(cfg, **changes)
    out = make_synth(args.out, cfg, force=args.force, workers=args.workers)
    print(f"wrote {cfg.train_videos} train + {cfg.val_videos} val videos of {cfg.frames} frames "
          f"({cfg.height}x{cfg.width}) to {out}")
    return 0
