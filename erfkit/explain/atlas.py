"""A per-video atlas of explanation maps, built once and browsed instantly.

For a target frame ``t`` (default: the first, whose mask is given) and every
frame ``l`` of the video, the atlas holds maps that live on frame ``l``:

* ``cycle``: the cycle-ERF of frame ``l`` for target ``t``;
* ``erf_query``: classic ERF w.r.t. frame ``l`` as the QUERY (memory: frame
  ``t`` with its mask), unit = each object's centroid in frame ``l``;
* ``erf_memory``: classic ERF w.r.t. frame ``l`` as the MEMORY (with its mask;
  query: frame ``t``), unit = each object's centroid in frame ``t``;
* ``saliency_<method>_query`` / ``saliency_<method>_memory``: Captum maps,
  same two settings;

plus ``pred`` (the model's segmentation of frame ``l`` with the ``mem``
strategy) and ``cycle_loss`` (the loss curve of the cycle-ERF).  The mask of
frame ``l`` (memory side, metrics) is its ground truth where it exists, else
the prediction.

The maps are computed at the network's input size (the checkpoint's, unless
``size`` says otherwise: frames letterboxed as in :mod:`erfkit.data.letterbox`)
and stored at the file's size, the canvas border cropped; the map metrics are
computed on the stored maps, deletion/insertion on the canvas the network sees.

Layout::

    ATLAS/index.json                  parameters, checkpoint hash, data version, frames done
    ATLAS/frames/<frame>.npz          the maps of one frame (float16, compressed)
    ATLAS/frames/<frame>.metrics.json the metric rows of that frame
    ATLAS/metrics.csv                 one tidy table (checkpoint, method, frame, object, ...)

Every file is written atomically and the index lists finished frames, so a
build that is killed resumes where it stopped.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
import os
import shutil
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.letterbox import Letterbox, format_size, parse_size
from ..data.synth import synth_info
from ..data.video import VideoSequence
from ..errors import ConfigError, DataError
from ..files import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..inference.predictor import VideoPredictor
from ..tensors import frame_tensor, onehot
from ..model.checkpoint import checkpoint_input_size
from ..model.stm import STM
from .cycle import CycleERFConfig, cycle_erf
from .erf import classic_erf, object_centroid
from .metrics import METRIC_COLUMNS, basic_metrics, deletion_insertion, randomized_model, sanity_similarity
from .attribution import SALIENCY_METHODS, SaliencyConfig, saliency

__all__ = ["AtlasConfig", "Atlas", "build_atlas", "ATLAS_METHODS", "model_fingerprint", "sequence_fingerprint"]

ATLAS_FORMAT = "erfkit-atlas"
ATLAS_VERSION = 1
ATLAS_METHODS = ("cycle", "classic", "saliency")
TABLE_COLUMNS = ["checkpoint", "sequence", "method", "target", "frame", "object"] + METRIC_COLUMNS


@dataclass(frozen=True)
class AtlasConfig:
    """What an atlas computes.

    Attributes:
        methods: any of ``cycle``, ``classic`` (both ERFs), ``saliency``.
        saliency_methods: Captum methods used by ``saliency`` (see :data:`SALIENCY_METHODS`).
        target: the target frame ``t``.
        steps, rate, gamma, batch_size: cycle-ERF settings (``M``, ``alpha``, ``gamma``).
        bootstrap: the fraction of hardest pixels in the cycle-ERF loss's
            cross-entropy (0.4: the authors' criterion, as gradient correction; 1: all).
        reduction: classic ERF reduction over colours (``abs`` or ``positive``).
        metrics_every: deletion/insertion on every N-th frame (0: never; they
            cost ``2 (deletion_steps + 1)`` forward passes per map).
        sanity_every: weight-randomisation check on every N-th frame (0: never).
        deletion_steps: parts in which pixels are deleted/inserted.
        seed: seed of the randomised model.
    """

    methods: tuple[str, ...] = ATLAS_METHODS
    saliency_methods: tuple[str, ...] = ("saliency",)
    target: int = 0
    steps: int = 50
    rate: float = 180.0
    gamma: float = 1.0
    batch_size: int = 4
    bootstrap: float = 0.4
    reduction: str = "abs"
    metrics_every: int = 4
    sanity_every: int = 8
    deletion_steps: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in ATLAS_METHODS]
        if bad:
            raise ConfigError(f"unknown atlas methods {bad}; choose from {', '.join(ATLAS_METHODS)}")
        bad = [m for m in self.saliency_methods if m not in SALIENCY_METHODS]
        if bad:
            raise ConfigError(f"unknown saliency methods {bad}; choose from {', '.join(SALIENCY_METHODS)}")
        if self.reduction not in ("abs", "positive"):
            raise ConfigError("reduction must be 'abs' or 'positive'")
        self.cycle_config()  # validates

    def cycle_config(self, batch_size: int | None = None) -> CycleERFConfig:
        """The cycle-ERF settings (``batch_size`` reference frames per batch)."""
        return CycleERFConfig(self.steps, self.rate, self.gamma, batch_size or self.batch_size,
                              bootstrap=self.bootstrap)

    @property
    def keys(self) -> list[str]:
        """Names of the maps each frame holds."""
        k = []
        if "cycle" in self.methods:
            k.append("cycle")
        if "classic" in self.methods:
            k += ["erf_query", "erf_memory"]
        if "saliency" in self.methods:
            for m in self.saliency_methods:
                k += [f"saliency_{m}_query", f"saliency_{m}_memory"]
        return k

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AtlasConfig":
        d = dict(d)
        for key in ("methods", "saliency_methods"):
            d[key] = tuple(d[key])
        return cls(**d)


def model_fingerprint(model: STM) -> str:
    """SHA-256 of the checkpoint file, or of the weights for a model built in memory."""
    info = model.checkpoint
    if info is not None:
        return info.sha256
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def sequence_fingerprint(sequence: VideoSequence) -> dict[str, Any]:
    """The data version: the synthetic generator's version and config, or the files' names and sizes."""
    h = hashlib.sha256()
    for p in list(sequence.frame_paths) + [sequence.annotation_paths[i] for i in sorted(sequence.annotation_paths)]:
        h.update(p.name.encode())
        h.update(str(p.stat().st_size).encode())
    out: dict[str, Any] = {"files_sha256": h.hexdigest()}
    root = sequence.frame_paths[0].parents[3] if len(sequence.frame_paths[0].parents) > 3 else None
    info = synth_info(root) if root is not None else None
    if info is not None:
        cfg = json.dumps(info.get("config"), sort_keys=True).encode()
        out["synth"] = {"version": info.get("version"), "config_sha256": hashlib.sha256(cfg).hexdigest()}
    return out


class Atlas:
    """Read an atlas: its index, one frame's maps, its metric table.

    Args:
        path: the atlas folder (holding ``index.json``).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        index = self.path / "index.json"
        if not index.is_file():
            raise DataError("not an atlas (no index.json)", self.path)
        try:
            self.index = json.loads(index.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"malformed atlas index ({e})", index) from None
        if not isinstance(self.index, dict) or self.index.get("format") != ATLAS_FORMAT:
            raise DataError("not an erfkit atlas index", index)
        if int(self.index.get("version", 0)) > ATLAS_VERSION:
            raise DataError(f"atlas written by a newer erfkit (version {self.index['version']})", index)
        for key in ("frames", "objects", "done", "config", "sequence", "checkpoint"):
            if key not in self.index:
                raise DataError(f"atlas index lacks {key!r}", index)

    @property
    def frames(self) -> list[str]:
        return list(self.index["frames"])

    @property
    def objects(self) -> list[int]:
        return list(self.index["objects"])

    @property
    def done(self) -> set[int]:
        return set(self.index["done"])

    @property
    def sequence(self) -> str:
        return self.index["sequence"]

    @property
    def checkpoint_sha256(self) -> str:
        return self.index["checkpoint"]["sha256"]

    @property
    def config(self) -> AtlasConfig:
        return AtlasConfig.from_dict(self.index["config"])

    @property
    def keys(self) -> list[str]:
        return self.config.keys

    def frame_file(self, index: int) -> Path:
        return self.path / "frames" / f"{self.frames[index]}.npz"

    def has(self, index: int) -> bool:
        return index in self.done and self.frame_file(index).is_file()

    def load(self, index: int, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """The arrays of frame ``index``: each map ``[K, H, W]`` (float16), ``pred [H, W]``, ``cycle_loss``.

        Args:
            keys: only these arrays (each is decompressed only when asked for).

        Raises:
            DataError: the frame is not in the atlas, or its file is corrupt.
        """
        if not 0 <= index < len(self.frames):
            raise DataError(f"frame {index} outside the atlas's {len(self.frames)} frames", self.path)
        if index not in self.done:
            raise DataError(f"frame {self.frames[index]} is not computed in this atlas", self.path)
        path = self.frame_file(index)
        try:
            with np.load(path, allow_pickle=False) as z:
                names = z.files if keys is None else [k for k in keys if k in z.files]
                return {k: z[k] for k in names}
        except (OSError, ValueError, KeyError, EOFError, zlib.error) as e:
            raise DataError(f"corrupt atlas frame ({e})", path) from None

    def metrics(self) -> list[dict[str, Any]]:
        """All metric rows of the computed frames."""
        rows: list[dict[str, Any]] = []
        for i in sorted(self.done):
            p = self.path / "frames" / f"{self.frames[i]}.metrics.json"
            if p.is_file():
                rows += json.loads(p.read_text(encoding="utf-8"))
        return rows


def _table(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, TABLE_COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


@dataclass
class _Video:
    """What every frame's computation needs, prepared once per build."""

    sequence: VideoSequence
    objects: list[int]
    target: int
    x_t: torch.Tensor
    y_t: torch.Tensor  # [1, K+1, H, W] on the canvas
    target_labels: np.ndarray
    preds: list[np.ndarray]
    label: str
    box: Letterbox
    query_t: Any = None
    memory_t: Any = None
    random: STM | None = None

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


def _predict(model: STM, sequence: VideoSequence, device: torch.device, size) -> list[np.ndarray]:
    predictor = VideoPredictor(model, memory="mem", size=size, device=device)
    out = []
    for t in range(len(sequence)):
        out.append(predictor.labels(predictor.step(sequence.read_frame(t), sequence.prompt(t))))
    return out


def _frame_maps(model: STM, v: _Video, l: int, x_l: torch.Tensor, cfg: AtlasConfig,
                cycle_maps: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Every map of frame ``l`` (``[K, H, W]`` each, on the canvas) for ``model``."""
    dev = x_l.device
    lab_l = v.canvas_labels(l)
    lab_t = v.target_canvas
    y_l = v.canvas_onehot(l, dev)
    maps: dict[str, torch.Tensor] = {}
    if "cycle" in cfg.methods:
        if cycle_maps is None:
            cycle_maps = cycle_erf(model, x_l, v.x_t, v.y_t, cfg.cycle_config(1)).maps[0]
        maps["cycle"] = cycle_maps
    if "classic" in cfg.methods:
        units_l = [object_centroid(lab_l == o) for o in v.objects]
        units_t = [object_centroid(lab_t == o) for o in v.objects]
        maps["erf_query"] = classic_erf(model, x_l, v.x_t, v.y_t, units_l, wrt="query",
                                        reduction=cfg.reduction).maps  # type: ignore[arg-type]
        maps["erf_memory"] = classic_erf(model, v.x_t, x_l, y_l, units_t, wrt="memory",
                                         reduction=cfg.reduction).maps  # type: ignore[arg-type]
    if "saliency" in cfg.methods:
        regions_l = [torch.as_tensor(lab_l == o, device=dev) for o in v.objects]
        regions_t = [torch.as_tensor(lab_t == o, device=dev) for o in v.objects]
        for m in cfg.saliency_methods:
            maps[f"saliency_{m}_query"] = saliency(model, m, x_l, v.x_t, v.y_t, regions_l, wrt="query",
                                                   config=SaliencyConfig())
            maps[f"saliency_{m}_memory"] = saliency(model, m, v.x_t, x_l, y_l, regions_t, wrt="memory",
                                                    config=SaliencyConfig())
    return maps


def _iou(pred_labels: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    inter = (pred_labels & gt).flatten(1).sum(1).float()
    union = (pred_labels | gt).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def _scorer(model: STM, v: _Video, l: int, k: int, key: str, dev: torch.device):
    """IoU of object ``k``'s prediction (on the canvas) as the map's frame ``l`` is perturbed."""
    lab_l = v.canvas_labels(l)
    if key.endswith("_query"):
        gt = torch.as_tensor(lab_l == v.objects[k], device=dev)

        def score(frames: torch.Tensor) -> torch.Tensor:
            m = v.memory_t
            mem = type(m)(m.keys.expand(frames.shape[0], *m.keys.shape[1:]),
                          m.values.expand(frames.shape[0], *m.values.shape[1:]))
            pred = model.segment(frames, mem).argmax(1) == k + 1
            return _iou(pred, gt[None])
    else:  # the map lives on a memory frame: perturb it, segment the target
        gt = torch.as_tensor(v.target_canvas == v.objects[k], device=dev)
        y_l = v.canvas_onehot(l, dev)

        def score(frames: torch.Tensor) -> torch.Tensor:
            mem = model.memorize(frames, y_l.expand(frames.shape[0], *y_l.shape[1:]))
            pred = model.segment(v.query_t, mem).argmax(1) == k + 1
            return _iou(pred, gt[None])
    return score


def build_atlas(model: STM, sequence: VideoSequence, out: str | os.PathLike, config: AtlasConfig | None = None, *,
                frames: Iterable[int] | None = None, progress: bool = True, overwrite: bool = False,
                label: str | None = None, size: str | tuple[int, int] | None = "checkpoint",
                device: str | torch.device | None = None) -> Atlas:
    """Compute (or complete) the atlas of one video for one model.

    Args:
        model: the STM.
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

    Returns:
        the :class:`Atlas`.
    """
    cfg = config or AtlasConfig()
    out = Path(out)
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
    identity = json.loads(json.dumps(identity))  # as stored (tuples become lists), for comparisons
    index_path = out / "index.json"
    done: list[int] = []
    if index_path.is_file():
        old = Atlas(out).index
        same = all(old.get(k) == identity[k] for k in ("sequence", "frames", "data", "config", "size")) and \
            old["checkpoint"]["sha256"] == identity["checkpoint"]["sha256"]
        if not same:
            if not overwrite:
                raise DataError("atlas holds maps of other settings, checkpoint or data",
                                out, option="overwrite")
            shutil.rmtree(out / "frames", ignore_errors=True)
        else:
            done = [i for i in old["done"] if (out / "frames" / f"{sequence.frame_names[i]}.npz").is_file()]
    wanted = sorted(set(range(n) if frames is None else frames))
    bad = [i for i in wanted if not 0 <= i < n]
    if bad:
        raise ConfigError(f"frames {bad} outside the video's {n} frames")
    todo = [i for i in wanted if i not in done]

    def write_index() -> None:
        atomic_write_json(index_path, {**identity, "done": sorted(done), "objects": v.objects,
                                       "target": cfg.target, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")})

    # ---- once per build: predictions, the target frame, cached features
    with torch.no_grad():
        target_labels = sequence.read_annotation(cfg.target) if cfg.target in sequence.annotation_paths else None
        if target_labels is None:
            raise DataError(f"target frame {sequence.frame_name(cfg.target)} has no mask", sequence.name)
        target_labels = np.where(target_labels == 255, 0, target_labels)
        objects = [int(o) for o in np.unique(target_labels) if o != 0]
        if not objects:
            raise DataError(f"target frame {sequence.frame_name(cfg.target)} holds no object", sequence.name)
        preds = _predict(model, sequence, dev, policy)
        dtype = next(model.parameters()).dtype
        x_t = frame_tensor(sequence.read_frame(cfg.target), dev, dtype)
        box = Letterbox.fit(tuple(x_t.shape[-2:]), policy)
        x_t = box.image(x_t)
        y_t = box.mask(onehot(target_labels, objects, dev, dtype))
        v = _Video(sequence, objects, cfg.target, x_t, y_t, target_labels, preds, label, box)
        v.query_t = model.encode_query(x_t)
        v.memory_t = model.memorize(x_t, y_t)
    need_random = cfg.sanity_every > 0 and any(i % cfg.sanity_every == 0 for i in todo)
    v.random = randomized_model(model, cfg.seed) if need_random else None
    out.mkdir(parents=True, exist_ok=True)
    write_index()

    with tqdm(total=len(todo), desc=f"atlas {sequence.name}", unit="frame", disable=not progress) as bar:
        _build_frames(model, v, cfg, todo, out, done, write_index, bar, dev)
    atlas = Atlas(out)
    atomic_write_text(out / "metrics.csv", _table(atlas.metrics()))
    return atlas


def _build_frames(model: STM, v: "_Video", cfg: AtlasConfig, todo: list[int], out: Path, done: list[int],
                  write_index, bar, dev: torch.device) -> None:
    sequence, x_t, y_t, preds = v.sequence, v.x_t, v.y_t, v.preds
    for start in range(0, len(todo), cfg.batch_size):
        batch = todo[start:start + cfg.batch_size]
        xs = v.box.image(torch.cat([frame_tensor(sequence.read_frame(i), dev, x_t.dtype) for i in batch]))
        cycle = None
        losses = None
        if "cycle" in cfg.methods:
            r = cycle_erf(model, xs, x_t, y_t, cfg.cycle_config())
            cycle, losses = r.maps, r.losses
        for j, l in enumerate(batch):
            x_l = xs[j:j + 1]
            maps = _frame_maps(model, v, l, x_l, cfg, None if cycle is None else cycle[j])
            rows = _metrics(model, v, l, x_l, maps, cfg, dev)
            arrays = {k: v.box.map_to_frame(m).detach().cpu().numpy().astype(np.float16) for k, m in maps.items()}
            arrays["pred"] = preds[l]
            if losses is not None:
                arrays["cycle_loss"] = losses[j].cpu().numpy().astype(np.float32)
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            name = sequence.frame_name(l)
            atomic_write_bytes(out / "frames" / f"{name}.npz", buf.getvalue())
            atomic_write_json(out / "frames" / f"{name}.metrics.json", rows)
            done.append(l)
            write_index()
            bar.update()


def _metrics(model: STM, v: _Video, l: int, x_l: torch.Tensor, maps: dict[str, torch.Tensor], cfg: AtlasConfig,
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
            row: dict[str, Any] = {"checkpoint": v.label, "sequence": v.sequence.name, "method": key,
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
