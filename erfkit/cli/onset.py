"""Where segmentation starts to fail: the error onset of one or two checkpoints on a video, and their divergence.

With ground truth on every frame the signal is J; without, the mask's overlap
with the previous frame's mask (a collapse, an explosion or a jump makes it
fall).  Onset: the first frame after the first where the signal falls below
--threshold; divergence: the first frame where the two checkpoints' masks
overlap less than --threshold.  --out writes onset.json and onset.png/.pdf.

Examples:
  erfkit onset --checkpoint checkpoints/stm-tiny-baseline --checkpoint checkpoints/stm-tiny-cyclic --data data/synth --sequence val007-horse-distractor
  erfkit onset --checkpoint A --checkpoint B --data D --sequence S --object 1 --threshold 0.3 --out runs/onset
"""

from __future__ import annotations

import argparse

from .segment import add_size_argument

HELP = "the first frame where each checkpoint's segmentation fails, and where two checkpoints diverge"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", action="append", required=True, metavar="CKPT", help="once or twice")
    p.add_argument("--data", required=True, help="DAVIS-layout dataset root")
    p.add_argument("--split", default="val")
    p.add_argument("--sequence", required=True)
    p.add_argument("--object", type=int, default=None, help="follow one object id (default: all together)")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--out", default=None, help="folder for onset.json and onset.png/.pdf")
    add_size_argument(p)
    p.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data.davis import DavisDataset, marked_pseudo_truth
    from ..errors import ConfigError
    from ..evaluation.onset import error_onset
    from ..evaluation.pseudo_truth import PSEUDO_TRUTH_RULE
    from ..files import atomic_write_json
    from ..inference.predictor import VideoPredictor
    from ..model.checkpoint import load_checkpoint
    from ..viz.style import paper_style, save_figure
    from ..viz.temporal import draw_onset

    if len(args.checkpoint) > 2:
        raise ConfigError("give --checkpoint once or twice")
    video = DavisDataset(args.data, args.split)[args.sequence]
    labels = {}
    for path in args.checkpoint:
        model = load_checkpoint(path, device=args.device)  # any family: each runs its own memory policy
        name = model.checkpoint.label if model.checkpoint is not None else str(path)
        if name in labels:
            name = f"{name} ({path})"
        labels[name] = [r.labels for r in VideoPredictor(model, size=args.size).propagate(video, progress=True)]
    rule = PSEUDO_TRUTH_RULE if marked_pseudo_truth(args.data) else None  # as `erfkit eval` decides
    o = error_onset(video, labels, object_id=args.object, threshold=args.threshold, pseudo_truth=rule)
    what = "all objects" if o.object_id is None else f"object {o.object_id}"
    print(f"{video.name}, {what}: signal {o.signal}, threshold {o.threshold}")
    if o.left_out:
        print(f"  pseudo ground truth: {len(o.left_out)} frame(s) left out ({PSEUDO_TRUTH_RULE.describe()}): "
              + ", ".join(map(video.frame_name, o.left_out)))
    for name, t in o.onset.items():
        print(f"  {name}: " + ("never fails" if t is None else f"onset at frame {video.frame_name(t)}"))
    if o.agreement is not None:
        print("  the two diverge " + ("never" if o.divergence is None else f"at frame {video.frame_name(o.divergence)}"))
    if args.out:
        out = Path(args.out)
        atomic_write_json(out / "onset.json", {"sequence": video.name, **o.to_dict()})
        with paper_style():
            for path in save_figure(draw_onset(o.curves, o.onset, o.signal, o.threshold, o.agreement, o.divergence,
                                               title=f"{video.name}: error onset ({what})"), out / "onset"):
                print(path)
    return 0
