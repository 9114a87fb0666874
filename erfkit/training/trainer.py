"""The training loop: resumable, logged, optionally validated, optionally distributed.

A run folder holds:

* ``config.json``: the resolved :class:`TrainConfig`;
* ``state.safetensors``: everything needed to resume (written every
  ``checkpoint_every`` steps and at each epoch end, atomically);
* ``model.safetensors``: the latest model in our checkpoint format (each epoch
  end and at the end) - what :func:`erfkit.load_checkpoint` reads;
* ``log.csv`` and ``tb/`` (TensorBoard scalars: loss parts, lr, max skip,
  validation J&F).

Started through ``torchrun --nproc_per_node N``, the run is data parallel (gloo
on CPU, NCCL on GPUs): each process takes its share of every global batch and
gradients are averaged, so N processes train like one process on the same
global batch.  With ``accumulate = n`` an optimiser step averages the
gradients of ``n`` consecutive batches (the authors' ``iter_size``).

Training data: one or several DAVIS-layout or YouTube-VOS-layout roots (their
``train`` splits), mixed with sampling frequencies, each with its own max-skip
curriculum (:meth:`TrainConfig.max_skip_at`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from ..data.letterbox import InputSize, format_size
from ..data.sampler import ClipDataset, EpochBatchSampler, MixedClipDataset, collate_clips, data_layout
from ..data.synth import synth_info
from ..device import init_distributed
from ..errors import ConfigError, ErfkitError
from ..files import atomic_write_json, atomic_write_text
from ..model import STM, build_model
from ..model.checkpoint import load_backbone_weights, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .state import load_train_state, read_train_meta, save_train_state
from .step import TrainStep

__all__ = ["train", "fit", "TrainingError", "validate"]

LOG_COLUMNS = ["step", "epoch", "loss", "forward", "cyclic", "lr", "max_skip", "seconds", "val_jf"]


class TrainingError(ErfkitError):
    """Training stopped (e.g. a loss that is not finite)."""


def validate(model: STM, data: str | os.PathLike, split: str = "val", videos: int | None = None,
             device: torch.device | None = None, size: InputSize | str = "checkpoint") -> float:
    """J&F of ``model`` on (the first ``videos`` of) a split, with the ``mem`` strategy, in memory.

    ``size``: the network input size (``(H, W)`` letterboxed, ``None`` native,
    ``"checkpoint"``: what the model's checkpoint records).
    """
    from ..data.davis import DavisDataset
    from ..evaluation.davis import DavisResults
    from ..evaluation.video import score_video
    from ..inference.predictor import VideoPredictor

    ds = DavisDataset(data, split)
    names = ds.names[:videos] if videos else ds.names
    predictor = VideoPredictor(model, memory="mem", device=device, size=size)
    scores = [score_video(ds[n], [r.labels for r in predictor.propagate(ds[n])]) for n in names]
    return DavisResults(split, scores).jf


def _data_version(data: Path) -> dict[str, Any]:
    info = synth_info(data)
    if info is None:
        return {"root": str(data)}
    return {"root": str(data), "synth_version": info.get("version"), "synth_config": info.get("config")}


class _Log:
    """CSV log that a resumed run continues without duplicate rows."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        rows: list[dict] = []
        if resume_step is not None and path.is_file():
            with open(path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        buf = io.StringIO()
        w = csv.DictWriter(buf, LOG_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(path, buf.getvalue())

    def write(self, row: dict) -> None:
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, LOG_COLUMNS, lineterminator="\n").writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


DataArg = str | os.PathLike | Sequence[str | os.PathLike]


def _roots(data: DataArg) -> list[Path]:
    if isinstance(data, (str, os.PathLike)):
        return [Path(data)]
    roots = [Path(d) for d in data]
    if not roots:
        raise ConfigError("no training data given")
    return roots


def _start_from(model: STM, config: TrainConfig) -> dict[str, Any]:
    """Every weight of ``model`` from the checkpoint ``config.init``, which must be the same network; returns
    that checkpoint's own training record (empty for a checkpoint not trained here)."""
    start = load_checkpoint(config.init)
    if not isinstance(start, STM) or start.config != model.config:
        raise ConfigError(f"init: the checkpoint is not a {config.model} (model presets must match)", config.init,
                          option="init")
    model.load_state_dict(start.state_dict(), strict=True)
    return dict(start.checkpoint.metadata.get("training") or {})


def _input_size(config: TrainConfig, sources: list[ClipDataset]) -> InputSize:
    """The input size the trained model expects: the letterbox canvas, or the frames' size when all share one."""
    if config.sampling == "letterbox":
        return tuple(config.size)
    sizes: set[tuple[int, int]] = set()
    for s in sources:
        sizes |= s.frame_sizes()
    return next(iter(sizes)) if len(sizes) == 1 else None


def _param_groups(model: STM, config: TrainConfig) -> list[dict[str, Any]]:
    """The trained parameters: one group at ``lr``, and the mask convolutions at ``mask_lr`` if it is set."""
    trained = [p for p in model.parameters() if p.requires_grad]
    if config.mask_lr is None:
        return [{"params": trained}]
    masks = {id(p) for p in model.mask_convolutions()}
    return [{"params": [p for p in trained if id(p) not in masks]},
            {"params": [p for p in trained if id(p) in masks], "lr": config.mask_lr}]


def train(config: TrainConfig, data: DataArg, out: str | os.PathLike, *, resume: bool = False,
          device: str | torch.device | None = None, progress: bool = True, label: str | None = None,
          data_freq: Sequence[int] | None = None) -> Path:
    """Train an STM and return the path of the final ``model.safetensors`` (see :func:`fit`)."""
    return fit(config, data, out, resume=resume, device=device, progress=progress, label=label,
               data_freq=data_freq)[0]


def fit(config: TrainConfig, data: DataArg, out: str | os.PathLike, *, resume: bool = False,
        device: str | torch.device | None = None, progress: bool = True,
        label: str | None = None, data_freq: Sequence[int] | None = None) -> tuple[Path, STM]:
    """Train an STM; returns the path of the final ``model.safetensors`` and the trained model.

    Args:
        config: the run's settings.
        data: a dataset root, or several, each DAVIS-layout or YouTube-VOS-layout
            (found from its files); their ``train`` splits are used.
            Validation uses the first DAVIS-layout root.
        out: the run folder.
        resume: continue the run in ``out`` where it stopped (model, optimiser,
            curriculum, data order, step).  Without a saved state it starts afresh.
        device: where to train (default: the best available).
        progress: show a progress bar.
        label: a name recorded in the checkpoint (default ``<model>-<mode>``).
        data_freq: sampling frequency of each root (default 1 each): an
            epoch holds ``freq * clips_per_video`` clips of each of its videos.

    The checkpoint records the input size the model expects (metadata
    ``input_size``): the training size with letterbox sampling; with crop
    sampling the frames' own size when every training video has the same,
    else ``"native"``.

    Raises:
        TrainingError: the loss is not finite (the last good checkpoint is kept).
    """
    rank, world, dev = init_distributed(device)
    main = rank == 0
    out = Path(out)
    roots = _roots(data)
    freqs = [1] * len(roots) if data_freq is None else [int(f) for f in data_freq]
    state_path = out / "state.safetensors"
    meta: dict[str, Any] = {}
    if resume and (out / "config.json").is_file():
        saved = TrainConfig.from_dict(json.loads((out / "config.json").read_text(encoding="utf-8")))
        if saved.to_dict() | {"epochs": 0} != config.to_dict() | {"epochs": 0}:
            raise ConfigError("resuming with settings that differ from the run's config.json "
                              "(only epochs may change)", out, option="resume")
    elif not resume and state_path.exists():
        raise ConfigError("a run exists here; resume it or choose another folder", out,
                          option="resume")
    # bad data fails here, before the run folder exists
    sources = [ClipDataset(r, "train", frames=config.frames, max_skip=config.max_skip_at(0, data_layout(r)),
                           max_objects=config.max_objects, size=config.size, augment=config.augment,
                           seed=config.seed, sampling=config.sampling, static=config.static_at(0)) for r in roots]
    dataset = MixedClipDataset(sources, freqs, config.clips_per_video, config.seed)
    sources_meta = [{"root": str(r), "layout": s.layout, "freq": f} for r, s, f in zip(roots, sources, freqs)]
    val_root = next((r for r, s in zip(roots, sources) if s.layout == "davis"), None)
    if config.val_every and val_root is None:
        raise ConfigError("validation (val_every) needs a DAVIS-layout dataset among the training data",
                          option="data")
    if resume and state_path.is_file():
        saved_data = read_train_meta(state_path).get("data")
        if saved_data is not None and [(d["layout"], d["freq"]) for d in saved_data] != \
                [(d["layout"], d["freq"]) for d in sources_meta]:
            raise ConfigError("resuming with other training data (dataset layouts and frequencies) "
                              "than the run's", out, option="resume")
    input_size = _input_size(config, sources)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "config.json", config.to_dict())

    model = build_model(config.model, seed=config.seed, device="cpu")
    earlier: dict[str, Any] | None = None  # the training record of the checkpoint this run starts from
    if config.init:
        earlier = _start_from(model, config)
    else:
        if config.backbone_weights:
            load_backbone_weights(model, config.backbone_weights)
        if config.mirror_encoders:
            model.mirror_encoders()
    if config.freeze_blocks:
        model.freeze_backbone(config.freeze_blocks)
    model = model.to(dev)
    model.train(not config.freeze_bn)
    optimizer = torch.optim.Adam(_param_groups(model, config), lr=config.lr, betas=config.betas,
                                 weight_decay=config.weight_decay)
    start_epoch, start_batch, global_step = 0, 0, 0
    if resume and state_path.is_file():
        meta = load_train_state(state_path, model, optimizer)
        start_epoch, start_batch, global_step = meta["epoch"], meta["batch"], meta["step"]
        model.train(not config.freeze_bn)
    step_module: torch.nn.Module = TrainStep(model, config.mode, config.gamma, config.bootstrap, config.frame_mean)
    if world > 1:
        step_module = torch.nn.parallel.DistributedDataParallel(
            step_module, device_ids=[dev.index] if dev.type == "cuda" else None)

    per_epoch = EpochBatchSampler(len(dataset), config.batch_size, config.seed, 0,
                                  accumulate=config.accumulate).batches_per_epoch()
    if per_epoch == 0:
        raise ConfigError(f"batch size {config.batch_size} x accumulate {config.accumulate} exceeds the "
                          f"{len(dataset)} clips of an epoch")
    total = per_epoch * config.epochs
    writer = None
    log = None
    if main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"), purge_step=global_step if resume else None)
        log = _Log(out / "log.csv", global_step if resume else None)
    label = label or f"{config.model}-{config.mode}"
    last_val: float | None = meta.get("val_jf") if meta else None
    t0 = time.perf_counter() - float(meta.get("seconds", 0.0)) if meta else time.perf_counter()

    def skips(epoch: int) -> list[int]:
        return [config.max_skip_at(epoch, s.layout) for s in sources]

    def skip_text() -> int | str:
        return dataset.max_skips[0] if len(sources) == 1 else "/".join(map(str, dataset.max_skips))

    def checkpoint(epoch: int, batch: int, final: bool = False) -> None:
        if not main:
            return
        state = {"epoch": epoch, "batch": batch, "step": global_step, "max_skip": skips(epoch)[0],
                 "max_skips": skips(epoch), "data": sources_meta, "input_size": format_size(input_size),
                 "seconds": time.perf_counter() - t0, "val_jf": last_val, "config": config.to_dict()}
        save_train_state(state_path, model, optimizer, state)
        if final or batch == 0:
            versions = [_data_version(r) | {"freq": f} for r, f in zip(roots, freqs)]
            save_checkpoint(model, out / "model.safetensors", {
                "label": label,
                "input_size": format_size(input_size),
                "training": {"mode": config.mode, "preset_model": config.model, "epochs_done": epoch,
                             "step": global_step, "seed": config.seed, "seconds": round(state["seconds"], 1),
                             "data": _data_version(roots[0]) if len(roots) == 1 else versions,
                             "config": config.to_dict(), **({"init": earlier} if config.init else {})},
                "metrics": {"val_jf": last_val, "val_split": config.val_split, "val_videos": config.val_videos},
            })

    bar = tqdm(total=total, initial=global_step, desc=f"train {config.mode}", unit="step",
               disable=not (progress and main))
    try:
        for epoch in range(start_epoch, config.epochs):
            dataset.set_epoch(epoch)
            dataset.set_max_skips(skips(epoch))
            dataset.set_static(config.static_at(epoch))
            sampler = EpochBatchSampler(len(dataset), config.batch_size, config.seed, epoch,
                                        start_batch if epoch == start_epoch else 0, rank, world, config.accumulate)
            loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_clips,
                                                 num_workers=config.workers)
            batch_index = sampler.start
            micro = 0  # batches accumulated towards the next optimiser step
            sums: dict[str, float] = {}
            for batch in loader:
                if micro == 0:
                    optimizer.zero_grad(set_to_none=True)
                micro += 1
                # gradients are all-reduced only on the step's last batch
                sync = step_module.no_sync() if world > 1 and micro < config.accumulate else contextlib.nullcontext()
                with sync:
                    parts = step_module(batch["frames"].to(dev), batch["masks"].to(dev), batch["valid"].to(dev))
                    loss = parts["loss"]
                    finite = torch.isfinite(loss.detach()).float()
                    if world > 1:
                        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
                    if finite.item() < 1:
                        raise TrainingError(
                            f"loss is not finite at step {global_step + 1} (epoch {epoch + 1}); training stopped. "
                            f"The last good checkpoint is kept: {state_path} (step {global_step})", out)
                    # the step's gradient is the mean over its batches
                    (loss / config.accumulate if config.accumulate > 1 else loss).backward()
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
                if micro < config.accumulate:
                    continue
                micro = 0
                optimizer.step()
                global_step += 1
                batch_index += 1
                bar.update()
                values = {k: v / config.accumulate for k, v in sums.items()}
                sums = {}
                bar.set_postfix(loss=f"{values['loss']:.3f}", skip=skip_text())
                if main and (global_step % config.log_every == 0 or batch_index == per_epoch):
                    assert writer is not None and log is not None
                    for k, v in values.items():
                        writer.add_scalar(f"loss/{k}", v, global_step)
                    writer.add_scalar("lr", optimizer.param_groups[0]["lr"], global_step)
                    writer.add_scalar("max_skip", dataset.max_skips[0], global_step)
                    for i, k in enumerate(dataset.max_skips[1:], 1):
                        writer.add_scalar(f"max_skip/{i}", k, global_step)
                    log.write({"step": global_step, "epoch": epoch + 1, "loss": values["loss"],
                               "forward": values["forward"], "cyclic": values["cyclic"],
                               "lr": optimizer.param_groups[0]["lr"], "max_skip": skip_text(),
                               "seconds": round(time.perf_counter() - t0, 2), "val_jf": ""})
                if config.checkpoint_every and global_step % config.checkpoint_every == 0 and batch_index < per_epoch:
                    checkpoint(epoch, batch_index)
            # end of epoch: validation, checkpoint (the curriculum follows from the epoch)
            dataset.set_max_skips(skips(epoch + 1))
            if main and config.val_every and ((epoch + 1) % config.val_every == 0 or epoch + 1 == config.epochs):
                model.eval()
                assert val_root is not None
                last_val = validate(model, val_root, config.val_split, config.val_videos, dev, input_size)
                model.train(not config.freeze_bn)
                assert writer is not None and log is not None
                writer.add_scalar("val/jf", last_val, global_step)
                log.write({"step": global_step, "epoch": epoch + 1, "loss": "", "forward": "", "cyclic": "",
                           "lr": optimizer.param_groups[0]["lr"], "max_skip": skip_text(),
                           "seconds": round(time.perf_counter() - t0, 2), "val_jf": last_val})
            checkpoint(epoch + 1, 0, final=epoch + 1 == config.epochs)
            if world > 1:
                dist.barrier()
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    if world > 1:
        dist.barrier()
    return out / "model.safetensors", model
