"""Building an atlas: every map of every frame of one video for one model, with its metrics."""

from __future__ import annotations

import contextlib
import dataclasses

import functools
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ...data.letterbox import Letterbox, format_size, parse_size
from ...data.video import VideoSequence
from ...errors import ConfigError, DataError
from ...inference.predictor import VideoPredictor
from ...model.checkpoint import checkpoint_input_size
from ...model.memory_model import MemoryModel
from ...tensors import class_index, frame_tensor, onehot
from ..cycle import CycleERF
from ..explainers import explainer_for
from ..keys import CYCLE, MapKey
from ..metrics import basic_metrics, deletion_insertion, randomized_model, sanity_similarity
from .config import AtlasConfig, model_fingerprint, sequence_fingerprint
from .store import ATLAS_FORMAT, ATLAS_VERSION, Atlas, AtlasWriter

__all__ = ["build_atlas", "predict_labels", "frame_groups"]


def frame_groups(frames: Iterable[int], batch_size: int) -> list[list[int]]:
    """The batches a build computes together: consecutive runs of ``batch_size`` of the sorted ``frames``.

    A batch is the unit of work: it is computed whole (a resumed build redoes a
    batch that was cut short, never a part of it), so its numbers do not depend
    on what was done before or on which process does it.
    """
    ordered = sorted(set(frames))
    return [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]


def predict_labels(model: MemoryModel, sequence: VideoSequence, *, size: Any = "checkpoint",
                   device: torch.device | None = None, frames: int | None = None) -> list[np.ndarray]:
    """The model's segmentation (its own memory policy: STM's ``mem``, XMem's) of every frame, or of the first ``frames``: ``[H, W]`` uint8
    object ids each."""
    predictor = VideoPredictor(model, size=size, device=device)  # the model's own memory policy
    return [r.labels for r in predictor.propagate(sequence, frames=frames, check=False)]


@dataclass
class _Video:
    """What every frame's computation needs, prepared once per build."""

    sequence: VideoSequence
    objects: list[int]
    target: int
    x_t: torch.Tensor
    y_t: torch.Tensor  # [1, K+1, H, W] on the canvas
    target_labels: np.ndarray
    preds: Sequence[np.ndarray]
    label: str
    box: Letterbox
    query_t: Any = None
    memory_t: Any = None
    random: MemoryModel | None = None

    def labels(self, l: int) -> np.ndarray:
        """Ground truth of frame ``l`` where it exists, else the prediction."""
        if l in self.sequence.annotation_paths:
            lab = self.sequence.read_annotation(l)
            return np.where(lab == 255, 0, lab)
        return self.preds[l]

    @functools.cached_property
    def target_canvas(self) -> np.ndarray:
        """The target frame's mask on the canvas ``[H, W]`` (read once, not per frame and object)."""
        return self.canvas_labels(self.target)

    def canvas_labels(self, l: int) -> np.ndarray:
        """:meth:`labels` on the network's canvas ``[H, W]``."""
        return self.box.labels(torch.from_numpy(np.ascontiguousarray(self.labels(l)))).numpy()

    def canvas_onehot(self, l: int, device: torch.device) -> torch.Tensor:
        """``[1, K+1, H, W]``: the mask of frame ``l`` as the network is given it."""
        return self.box.mask(onehot(self.labels(l), self.objects, device, self.y_t.dtype))


def _frame_maps(model: MemoryModel, v: _Video, l: int, x_l: torch.Tensor, cfg: AtlasConfig,
                cycle_maps: torch.Tensor | None) -> dict[MapKey, torch.Tensor]:
    """Every map of frame ``l`` (``[K, H, W]`` each, on the canvas) for ``model``.

    Units (classic ERF) and regions (saliency) are each object's pixels in
    the labels on the canvas (nearest), of frame ``l`` or of the target.
    """
    dev = x_l.device
    ids = torch.tensor(v.objects, device=dev).view(-1, 1, 1)
    lab_l = torch.as_tensor(v.canvas_labels(l), device=dev)
    lab_t = torch.as_tensor(v.target_canvas, device=dev)
    inputs = dict(frame_masks=v.canvas_onehot(l, dev), target_regions=lab_t[None] == ids,
                  frame_regions=(lab_l[None] == ids)[None])
    maps: dict[MapKey, torch.Tensor] = {}
    for key in cfg.map_keys:
        if key == CYCLE and cycle_maps is not None:
            maps[key] = cycle_maps
            continue
        explainer = explainer_for(model, key, cycle=cfg.cycle_config(1), reduction=cfg.reduction)
        maps[key] = explainer.attribute(x_l, v.x_t, v.y_t, **inputs).maps[0]
    return maps


def _iou(pred_labels: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    inter = (pred_labels & gt).flatten(1).sum(1).float()
    union = (pred_labels | gt).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def _scorer(model: MemoryModel, v: _Video, l: int, k: int, key: MapKey, dev: torch.device):
    """IoU of object ``k``'s prediction (on the canvas) as the map's frame ``l`` is perturbed."""
    lab_l = v.canvas_labels(l)
    if key.wrt == "query":
        gt = torch.as_tensor(lab_l == v.objects[k], device=dev)

        def score(frames: torch.Tensor) -> torch.Tensor:
            mem = v.memory_t.expand(frames.shape[0])
            pred = class_index(model.segment(frames, mem), 1) == k + 1
            return _iou(pred, gt[None])
    else:  # the map lives on a memory frame: perturb it, segment the target
        gt = torch.as_tensor(v.target_canvas == v.objects[k], device=dev)
        y_l = v.canvas_onehot(l, dev)

        def score(frames: torch.Tensor) -> torch.Tensor:
            mem = model.memorize(frames, y_l.expand(frames.shape[0], *y_l.shape[1:]))
            pred = class_index(model.segment(v.query_t, mem), 1) == k + 1
            return _iou(pred, gt[None])
    return score


def build_atlas(model: MemoryModel, sequence: VideoSequence, out: str | os.PathLike, config: AtlasConfig | None = None, *,
                frames: Iterable[int] | None = None, progress: bool = True, overwrite: bool = False,
                label: str | None = None, size: str | tuple[int, int] | None = "checkpoint",
                device: str | torch.device | None = None,
                predictions: Sequence[np.ndarray] | None = None, groups: Iterable[Sequence[int]] | None = None,
                on_frame: Callable[[int], None] | None = None, finish: bool = True) -> Atlas:
    """Compute (or complete) the atlas of one video for one model.

    Args:
        model: the network (any :class:`~erfkit.model.memory_model.MemoryModel`).
        sequence: the video (its target frame needs a mask: its annotation or prompt).
        out: the atlas folder.
        config: what to compute.
        frames: only these frame indices (default: all); an existing atlas is completed.
        progress: progress bar.
        overwrite: replace an atlas made with other settings, model or data.
        label: the checkpoint's name in the metric table.
        size: the network's input size: ``"HxW"``, ``"native"`` or ``"checkpoint"``
            (the size the checkpoint was trained at).  Maps are stored at the file's size.
        device: where to compute (default: the model's).
        predictions: the model's labels at this ``size`` (:func:`predict_labels`) of every frame, or of the
            frames from 0 up to the last one computed, when the caller has them; else the video is segmented
            here, as far as the last frame computed.
        groups: the batches to compute (default: :func:`frame_groups` of
            ``frames``); a batch whose frames are all done is skipped, any other
            is computed whole.
        on_frame: called with each frame's index once it is written.
        finish: write ``metrics.csv`` at the end (a process writing part of an
            atlas beside others leaves it to the last one).

    Returns:
        the :class:`Atlas`.
    """
    cfg = config or AtlasConfig()
    dev = torch.device(device) if device is not None else model.device
    model = model.to(dev).eval()
    n = len(sequence)
    if n == 0:
        raise DataError("sequence has no frames", sequence.name)
    if not 0 <= cfg.target < n:
        raise ConfigError(f"target frame {cfg.target} outside the video's {n} frames")
    info = model.checkpoint
    label = label or (info.label if info is not None else model.config.name)
    policy = checkpoint_input_size(model) if size == "checkpoint" else parse_size(size)
    identity = {"format": ATLAS_FORMAT, "version": ATLAS_VERSION, "sequence": sequence.name,
                "frames": sequence.frame_names,
                "checkpoint": {"sha256": model_fingerprint(model), "label": label,
                               "path": info.path if info is not None else None},
                "data": sequence_fingerprint(sequence), "config": cfg.to_dict(), "size": format_size(policy)}
    writer = AtlasWriter(out, identity, overwrite=overwrite)
    frames = None if frames is None else list(frames)  # read twice below
    if cfg.batch_size == "auto":  # the identity keeps "auto"; the batches are sized to this machine
        from ..batching import plan_batch

        asked = sorted(set(range(n) if frames is None else frames) - set(writer.done))
        cfg = dataclasses.replace(cfg, batch_size=1 if not asked else plan_batch(
            model, sequence, cfg.target, cfg.cycle_config(1), size=policy, device=dev,
            limit=len(asked)).batch_size)
    batches = [list(g) for g in groups] if groups is not None else \
        frame_groups(range(n) if frames is None else frames, cfg.batch_size)
    bad = sorted({i for g in batches for i in g if not 0 <= i < n})
    if bad:
        raise ConfigError(f"frames {bad} outside the video's {n} frames")
    done = set(writer.done)
    todo = [g for g in batches if not set(g) <= done]
    needed = 1 + max((i for g in todo for i in g), default=-1)  # the masks of frames 0..last computed
    if predictions is not None and not needed <= len(predictions) <= n:
        raise DataError(f"{len(predictions)} predictions for {n} frames (at least {needed} needed)", sequence.name)

    # ---- once per build: predictions, the target frame, cached features
    with torch.no_grad():
        target_labels = sequence.read_annotation(cfg.target) if cfg.target in sequence.annotation_paths else None
        if target_labels is None:
            raise DataError(f"target frame {sequence.frame_name(cfg.target)} has no mask", sequence.name)
        target_labels = np.where(target_labels == 255, 0, target_labels)
        objects = [int(o) for o in np.unique(target_labels) if o != 0]
        if not objects:
            raise DataError(f"target frame {sequence.frame_name(cfg.target)} holds no object", sequence.name)
        preds = predictions if predictions is not None else \
            predict_labels(model, sequence, size=policy, device=dev, frames=needed)
        dtype = next(model.parameters()).dtype
        x_t = frame_tensor(sequence.read_frame(cfg.target), dev, dtype)
        box = Letterbox.fit(tuple(x_t.shape[-2:]), policy)
        x_t = box.image(x_t)
        y_t = box.mask(onehot(target_labels, objects, dev, dtype))
        v = _Video(sequence, objects, cfg.target, x_t, y_t, target_labels, preds, label, box)
        with compute_dtype(cfg.dtype, dev):
            v.query_t = model.encode_query(x_t)
            v.memory_t = model.memorize(x_t, y_t)
    need_random = cfg.sanity_every > 0 and any(i % cfg.sanity_every == 0 for g in todo for i in g)
    v.random = randomized_model(model, cfg.seed) if need_random else None
    writer.write_index(objects=v.objects, target=cfg.target,
                       frames_dir=str(sequence.frame_paths[0].parent.resolve()))  # for rendering, not identity

    with tqdm(total=sum(map(len, todo)), desc=f"atlas {sequence.name}", unit="frame", disable=not progress) as bar:
        with compute_dtype(cfg.dtype, dev):
            _build_frames(model, v, cfg, todo, writer, bar, dev, on_frame)
    return writer.finish() if finish else Atlas(writer.out)


def compute_dtype(dtype: str, device: torch.device):
    """The context the explanations are computed in: nothing for ``float32``; for ``bfloat16``, autocast
    (convolutions and matrix products in bfloat16, reductions, softmax and the mask's gradient in float32)."""
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _build_frames(model: MemoryModel, v: _Video, cfg: AtlasConfig, todo: list[list[int]], writer: AtlasWriter, bar,
                  dev: torch.device, on_frame: Callable[[int], None] | None) -> None:
    sequence, x_t, y_t, preds = v.sequence, v.x_t, v.y_t, v.preds
    for batch in todo:
        xs = v.box.image(torch.cat([frame_tensor(sequence.read_frame(i), dev, x_t.dtype) for i in batch]))
        cycle = None
        losses = None
        if "cycle" in cfg.methods:
            r = CycleERF(model, cfg.cycle_config()).attribute(xs, x_t, y_t)
            cycle, losses = r.maps, r.extras["losses"]
        for j, l in enumerate(batch):
            x_l = xs[j:j + 1]
            maps = _frame_maps(model, v, l, x_l, cfg, None if cycle is None else cycle[j])
            rows = _metrics(model, v, l, x_l, maps, cfg, dev)
            arrays = {k.name: v.box.map_to_frame(m.float()).detach().cpu().numpy().astype(np.float16)
                      for k, m in maps.items()}
            arrays["pred"] = preds[l]
            if losses is not None:
                arrays["cycle_loss"] = losses[j].float().cpu().numpy().astype(np.float32)
            writer.write_frame(l, arrays, rows)
            bar.update()
            if on_frame is not None:
                on_frame(l)


def _metrics(model: MemoryModel, v: _Video, l: int, x_l: torch.Tensor, maps: dict[MapKey, torch.Tensor], cfg: AtlasConfig,
             dev: torch.device) -> list[dict[str, Any]]:
    """The tidy metric rows of frame ``l``: one per (map, object).

    ``maps`` are on the canvas; the map metrics use them at the file's size,
    deletion/insertion perturbs the canvas the network sees.
    """
    lab_l = v.labels(l)
    faithful = cfg.metrics_every > 0 and l % cfg.metrics_every == 0
    sane = v.random is not None and l % cfg.sanity_every == 0
    random_maps = _frame_maps(v.random, v, l, x_l, cfg, None) if sane else {}
    rows = []
    for key, canvas_map in maps.items():
        m = v.box.map_to_frame(canvas_map)
        for k, obj in enumerate(v.objects):
            row: dict[str, Any] = {"checkpoint": v.label, "sequence": v.sequence.name, "method": key.name,
                                   "target": v.sequence.frame_name(v.target), "frame": v.sequence.frame_name(l),
                                   "object": obj}
            row.update(basic_metrics(m[k], lab_l == obj))
            row["deletion"] = row["insertion"] = float("nan")
            if faithful:
                score = _scorer(model, v, l, k, key, dev)
                row["deletion"], row["insertion"], _, _ = deletion_insertion(canvas_map[k], x_l, score,
                                                                             cfg.deletion_steps)
            row["sanity"] = (sanity_similarity(m[k], v.box.map_to_frame(random_maps[key][k])) if sane
                             else float("nan"))
            rows.append(row)
    return rows
