"""Show what a checkpoint holds: its format, architecture and metadata (training, data, metrics).

Example:
  erfkit info checkpoints/stm-tiny-cyclic
"""

from __future__ import annotations

import argparse
import json

HELP = "describe a checkpoint (format, architecture, training metadata)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="our .safetensors (or folder), a foreign STM checkpoint or XMem's weights")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from ..model.checkpoint import load_checkpoint

    model = load_checkpoint(args.checkpoint)
    info = model.checkpoint
    from ..data.letterbox import format_size

    doc = {"path": info.path, "format": info.format, "sha256": info.sha256, "model": info.config.to_dict(),
           "input_size": format_size(info.input_size),
           "parameters": sum(p.numel() for p in model.parameters()), "metadata": info.metadata, "notes": info.notes}
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(f"{info.path}: {info.format} checkpoint of {info.config.name} "
              f"({doc['parameters'] / 1e6:.2f} M parameters, {info.config.describe()}, "
              f"input size {doc['input_size']})")
        for k, v in info.metadata.items():
            if k in ("model", "format", "format_version", "input_size"):
                continue
            if k == "training" and isinstance(v, dict):  # the full config is in --json
                v = {kk: vv for kk, vv in v.items() if kk != "config"}
                if isinstance(v.get("data"), dict):
                    v["data"] = {kk: vv for kk, vv in v["data"].items() if kk != "synth_config"}
            print(f"  {k}: {json.dumps(v, default=str)}")
        for n in info.notes:
            print(f"  note: {n}")
    return 0
