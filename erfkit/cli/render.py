"""An atlas as an animation (GIF or MP4): every computed frame with one map overlaid.

One output frame per atlas frame: the map (one scale for the whole video,
log10(1 + map) over its maximum) over the dimmed frame, the object's
predicted mask outlined, a colour bar with the raw maximum.  The frames are
read from the folder the atlas recorded when it was built (--frames for
another place).

Examples:
  erfkit render atlas/cyc --out cyc.gif
  erfkit render atlas/cyc --out cyc.mp4 --method erf_memory --object 2 --fps 12
"""

from __future__ import annotations

import argparse

HELP = "an atlas as a GIF or MP4 (one frame per atlas frame, one map overlaid)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("atlas", help="atlas folder (built with erfkit erf)")
    p.add_argument("--out", required=True, help="F.gif or F.mp4")
    p.add_argument("--method", default="cycle",
                   help="map name: cycle (default), erf_memory, erf_query, saliency_<method>_<memory|query>")
    p.add_argument("--object", type=int, default=None, help="object id (default: the atlas's first)")
    p.add_argument("--frames", default=None, help="the video's frames folder (default: what the atlas records)")
    p.add_argument("--fps", type=float, default=8.0)
    p.add_argument("--scale", choices=("log", "linear"), default="log")


def run(args: argparse.Namespace) -> int:
    from ..explain.atlas import Atlas
    from ..experiments.render import render_atlas

    path = render_atlas(Atlas(args.atlas), args.out, key=args.method, object_id=args.object,
                        frames_dir=args.frames, fps=args.fps, scale=args.scale)
    print(path)
    return 0
