"""Explanation atlases: cycle-ERF, classic ERF and saliency for every frame of one video or a whole split.

With --sequence: the atlas of one video (compressed arrays + index.json +
metrics.csv), what the dashboard browses.  Without it: every video of the
split (or --sequences), one atlas each under --out, with store.json and one
metrics.csv (a row per sequence, frame, object and method, with the frame's
J).  Under `torchrun --nproc-per-node N -m erfkit erf ...` the batches of
frames are shared among the processes (gloo on CPU, NCCL on GPU), each done
once.  An interrupted run completes what is missing when run again.

Examples:
  erfkit erf --checkpoint checkpoints/stm-tiny-cyclic --data data/synth --out atlas/cyclic
  torchrun --nproc-per-node 2 -m erfkit erf --checkpoint C --data D --sequences a,b,c --out atlas/C
  erfkit erf --checkpoint checkpoints/stm-tiny-cyclic --data data/synth --sequence val007-horse-distractor --out atlas/cyc
  erfkit erf --checkpoint C --data D --sequence S --out A --methods cycle --steps 50 --frames 0,5,10
  erfkit erf --checkpoint C --data D --sequence S --out A --saliency saliency,integrated_gradients,gradcam
"""

from __future__ import annotations

import argparse

from .segment import add_size_argument

HELP = "explanation atlas of a video (cycle-ERF, classic ERF, Captum saliency, metrics)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="DAVIS-layout dataset root")
    p.add_argument("--split", default="val")
    p.add_argument("--sequence", default=None, help="one video (default: every video of the split)")
    p.add_argument("--sequences", default=None, help="without --sequence: only these videos, comma-separated")
    p.add_argument("--out", required=True, help="atlas folder (one video) or store folder (a split)")
    p.add_argument("--methods", default="cycle,classic,saliency", help="any of cycle, classic, saliency")
    p.add_argument("--saliency", default="saliency", help="Captum methods, comma-separated")
    p.add_argument("--steps", type=int, default=50, help="cycle-ERF steps M (50)")
    p.add_argument("--rate", type=float, default=180.0, help="cycle-ERF rate alpha (180)")
    p.add_argument("--bootstrap", type=float, default=0.4,
                   help="fraction of hardest pixels in the cycle-ERF loss's cross-entropy (0.4, as GC; 1: plain mean)")
    p.add_argument("--target", type=int, default=0, help="target frame t (0: the first, given mask)")
    p.add_argument("--frames", default=None, help="only these frame indices, e.g. 0,4,8 or 0-15")
    p.add_argument("--metrics-every", type=int, default=4, help="deletion/insertion every N-th frame (0: never)")
    p.add_argument("--sanity-every", type=int, default=8, help="randomised-weights check every N-th frame (0: never)")
    p.add_argument("--batch", "--batch-size", dest="batch_size", default="4", metavar="N|auto",
                   help="reference frames per cycle-ERF batch (4); auto: as many as the free memory holds")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                   help="compute the explanations in bfloat16 (autocast; for GPUs) or float32 (default)")
    p.add_argument("--overwrite", action="store_true", help="replace an atlas or store of other settings")
    add_size_argument(p)
    p.add_argument("--device", default="auto")


def parse_frames(text: str | None) -> list[int] | None:
    from ..errors import ConfigError

    if not text:
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                a, b = part.split("-")
                out += list(range(int(a), int(b) + 1))
            elif part.strip():
                out.append(int(part))
    except ValueError:
        raise ConfigError(f"--frames must look like 0,4,8 or 0-15, not {text!r}") from None
    return out


def batch_size(text: str) -> int | str:
    """``--batch``: a whole number, or ``auto``."""
    from ..errors import ConfigError

    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--batch must be a whole number or 'auto', not {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from ..data.davis import DavisDataset
    from ..errors import ConfigError
    from ..explain.atlas import AtlasConfig, build_atlas
    from ..model.checkpoint import load_checkpoint

    def names(text: str) -> list[str]:
        return [m.strip() for m in text.split(",") if m.strip()]

    cfg = AtlasConfig(methods=tuple(names(args.methods)), saliency_methods=tuple(names(args.saliency)),
                      target=args.target, steps=args.steps, rate=args.rate, bootstrap=args.bootstrap,
                      batch_size=batch_size(args.batch_size), dtype=args.dtype, metrics_every=args.metrics_every, sanity_every=args.sanity_every)
    if args.sequence is None:
        if args.frames:
            raise ConfigError("--frames needs --sequence (a split is explained whole)")
        return run_dataset(args, cfg, None if args.sequences is None else names(args.sequences))
    model = load_checkpoint(args.checkpoint, device=args.device)
    seq = DavisDataset(args.data, args.split)[args.sequence]
    atlas = build_atlas(model, seq, args.out, cfg, frames=parse_frames(args.frames), overwrite=args.overwrite,
                        size=args.size)
    print(f"atlas of {seq.name}: {len(atlas.done)}/{len(atlas.frames)} frames, maps {', '.join(atlas.keys)} "
          f"-> {atlas.path}")
    return 0


def run_dataset(args: argparse.Namespace, cfg, sequences: list[str] | None) -> int:
    """Every video of the split (or ``sequences``), this process's share under torchrun."""
    from ..data.davis import DavisDataset
    from ..device import init_distributed
    from ..explain.dataset import explain_dataset
    from ..model.checkpoint import load_checkpoint

    rank, world, device = init_distributed(args.device)
    barrier, agree = None, None
    if world > 1:
        import torch
        import torch.distributed as dist

        barrier = dist.barrier

        def smallest(n: int) -> int:  # over the ranks
            t = torch.tensor([n], device=device)
            dist.all_reduce(t, op=dist.ReduceOp.MIN)
            return int(t.item())
        agree = smallest
    try:
        model = load_checkpoint(args.checkpoint, device=device)
        store = explain_dataset(model, DavisDataset(args.data, args.split), args.out, cfg, sequences=sequences,
                                size=args.size, rank=rank, world=world, barrier=barrier, agree=agree,
                                overwrite=args.overwrite)
    finally:
        if world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
    if rank == 0:
        print(f"{len(store.sequences)} videos explained by {world} process(es) -> {store.path / 'metrics.csv'}")
    return 0
