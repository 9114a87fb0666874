"""Which part of the memory a prediction comes from: each memory unit's share of the read and its effect on J.

For frame --frame of a video, segmented from the memory the checkpoint's own
predictor holds there (STM's "mem" strategy; XMem's working and long-term
memory), prints for each memory unit (a frame in memory; XMem's long-term
prototypes, one unit) its share of the memory read over the object's predicted
region, and the object's J when that unit is left out (against the ground
truth, or against the prediction with the whole memory when the frame has
none).  --point y,x also shows the read at that pixel: its weights on every
unit.  --out writes memory.json and memory.png (PNG + PDF).

Examples:
  erfkit memory --checkpoint checkpoints/stm-tiny-cyclic --data data/synth --sequence val007-horse-distractor --frame 12 --object 1
  erfkit memory --checkpoint C --data D --sequence S --frame 30 --object 2 --point 120,340 --out runs/memory
"""

from __future__ import annotations

import argparse

from .segment import add_size_argument

HELP = "each memory unit's share of a prediction's read and its effect (temporal attribution)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="DAVIS-layout dataset root")
    p.add_argument("--split", default="val")
    p.add_argument("--sequence", required=True)
    p.add_argument("--frame", type=int, required=True, help="the frame explained (after the first)")
    p.add_argument("--object", type=int, required=True, help="the object id")
    p.add_argument("--point", default=None, metavar="Y,X", help="also the read at this pixel of the frame")
    p.add_argument("--out", default=None, help="folder for memory.json and memory.png/.pdf")
    add_size_argument(p)
    p.add_argument("--device", default="auto")


def parse_point(text: str | None) -> tuple[int, int] | None:
    from ..errors import ConfigError

    if text is None:
        return None
    try:
        y, x = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--point must look like 120,340 (y,x), not {text!r}") from None
    return y, x


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data.davis import DavisDataset
    from ..explain.temporal import temporal_attribution
    from ..files import atomic_write_json
    from ..model.checkpoint import load_checkpoint
    from ..viz.style import paper_style, save_figure
    from ..viz.temporal import draw_memory_read

    point = parse_point(args.point)
    video = DavisDataset(args.data, args.split)[args.sequence]
    model = load_checkpoint(args.checkpoint, device=args.device)
    a = temporal_attribution(model, video, args.frame, args.object, size=args.size, point=point)
    print(f"{video.name}, frame {video.frame_name(a.frame)}, object {a.object_id}: J = {a.j:.3f} "
          f"(against the {a.reference}; share over the {a.region})")
    print(f"{'memory unit':>12}  {'share':>6}  {'J without':>9}  {'effect':>7}" + ("  at point" if point else ""))
    names = [u.name(video.frame_name) for u in a.units]
    for i, name in enumerate(names):
        extra = f"  {a.point_mass[i]:>8.3f}" if a.point_mass is not None else ""
        print(f"{name:>12}  {a.share[i]:>6.3f}  {a.j_without[i]:>9.3f}  {a.effect[i]:>7.3f}{extra}")
    for u in a.units:
        if u.frame is None:
            print(f"{u.describe(video.frame_name)} (a prototype's value mixes several cells)")
    if args.out:
        out = Path(args.out)
        atomic_write_json(out / "memory.json", {"sequence": video.name, "checkpoint": str(args.checkpoint),
                                                **a.to_dict()})
        frames = [None if t is None else video.read_frame(t) for t in a.memory_frames]
        with paper_style():
            fig = draw_memory_read(video.read_frame(a.frame), None, a.point, frames, names, a.share, a.j, a.j_without,
                                   a.point_maps, a.point_mass,
                                   title=f"{video.name}, frame {video.frame_name(a.frame)}, object {a.object_id}")
            for path in save_figure(fig, out / "memory"):
                print(path)
    return 0
