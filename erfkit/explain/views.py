"""Maps of one (checkpoint, video) for interactive browsing: from atlases, else computed once and cached.

A :class:`MapStore` answers "the cycle-ERF / classic ERF / saliency maps of
frame ``l``" and "the model's segmentation of frame ``l``".  It first looks in
the atlases it was given (built with ``erfkit erf``) for one made from the same
checkpoint, video and settings; what no atlas holds is computed for that frame
only and written to a cache on disk (itself an atlas per method group), so a
second visit is instant.  A view of stored frames never runs the model: the
segmentation is stored with the maps, and the video is segmented once, as far
as a request needs (:meth:`MapStore.labels_until`: a frame's masks need the
frames before it only), then kept in the cache once whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..data.letterbox import format_size, parse_size
from ..data.video import VideoSequence
from ..files import atomic_write_bytes, find_readable
from ..model.checkpoint import checkpoint_input_size
from ..model.memory_model import MemoryModel
from ..inference.predictor import VideoPredictor
from .atlas import Atlas, AtlasConfig, build_atlas, model_fingerprint, sequence_fingerprint
from .keys import CYCLE, MapKey

__all__ = ["ViewSettings", "MapStore", "find_atlases"]


@dataclass(frozen=True)
class ViewSettings:
    """The explanation parameters a view asks for."""

    target: int = 0
    steps: int = 50
    rate: float = 180.0
    reduction: str = "abs"
    saliency_method: str = "saliency"
    size: str = "checkpoint"  # the network's input size: "HxW", "native" or "checkpoint"

    def group_config(self, group: str) -> AtlasConfig:
        """The minimal atlas config computing one method group (no costly metrics on demand)."""
        common = dict(target=self.target, steps=self.steps, rate=self.rate, reduction=self.reduction,
                      metrics_every=0, sanity_every=0, batch_size=1)
        if group == "saliency":
            return AtlasConfig(methods=("saliency",), saliency_methods=(self.saliency_method,), **common)
        return AtlasConfig(methods=(group,), **common)

    def map_keys(self, wrt: str | None = None) -> list[MapKey]:
        """The maps of this view: cycle-ERF, then classic ERF and saliency of the side ``wrt`` (default both)."""
        sides = ("memory", "query") if wrt is None else (wrt,)
        return [CYCLE, *(MapKey.erf(s) for s in sides),  # type: ignore[arg-type]
                *(MapKey.saliency(self.saliency_method, s) for s in sides)]  # type: ignore[arg-type]


def _provides(atlas: Atlas, key: MapKey, s: ViewSettings, size: str) -> bool:
    """Whether ``atlas`` was computed with the settings ``key`` needs, at the input ``size`` (``"HxW"``/``"native"``)."""
    cfg = atlas.config
    if key not in cfg.map_keys or cfg.target != s.target or atlas.index.get("size") != size:
        return False
    if key.group == "cycle":
        return (cfg.steps, cfg.rate, cfg.bootstrap) == (s.steps, s.rate, s.group_config("cycle").bootstrap)
    if key.group == "classic":
        return cfg.reduction == s.reduction
    return True


def find_atlases(roots: Iterable[str | os.PathLike]) -> list[Atlas]:
    """Every readable atlas under the given folders."""
    return find_readable(roots, "index.json", Atlas)


class MapStore:
    """Maps and segmentation of one model on one video.

    Args:
        model: the network (any :class:`~erfkit.model.memory_model.MemoryModel`).
        sequence: the video.
        atlases: atlases to read from (any checkpoint/video; matching ones are used).
        cache: folder for maps computed on demand.
    """

    def __init__(self, model: MemoryModel, sequence: VideoSequence, atlases: list[Atlas], cache: str | os.PathLike):
        self.model = model
        self.sequence = sequence
        self.sha = model_fingerprint(model)
        self.default_size = format_size(checkpoint_input_size(model))
        self.atlases = [a for a in atlases if a.checkpoint_sha256 == self.sha and a.sequence == sequence.name]
        self.cache = Path(cache) / self.sha[:16] / sequence.name
        self._cache_atlases: dict[Path, tuple[int, Atlas]] = {}
        self._labels: dict[str, list[np.ndarray]] = {}
        #: size -> (the predictor's frames still to come, the frames segmented so far): a segmentation under way
        self._partial: dict[str, tuple[Iterator, list[np.ndarray]]] = {}
        self._unstored: set[str] = set()  # sizes whose segmentation no atlas or cache held when looked for
        self._dirs: dict[tuple[str, ViewSettings], Path] = {}

    @property
    def label(self) -> str:
        """The checkpoint's short name."""
        info = self.model.checkpoint
        return info.label if info is not None else self.model.config.name

    def size(self, s: ViewSettings) -> str:
        """The input size ``s`` asks for, resolved: ``"HxW"`` or ``"native"``."""
        return self.default_size if s.size == "checkpoint" else format_size(parse_size(s.size))

    def _cache_dir(self, group: str, s: ViewSettings) -> Path:
        key = (group, s)
        if key not in self._dirs:  # asked for on every view: hashed once
            cfg = json.dumps({**s.group_config(group).to_dict(), "size": self.size(s)}, sort_keys=True).encode()
            self._dirs[key] = self.cache / f"{group}-{hashlib.sha256(cfg).hexdigest()[:12]}"
        return self._dirs[key]

    def _cached(self, d: Path) -> Atlas | None:
        """The cache atlas in ``d`` (re-read only when its index changed)."""
        index = d / "index.json"
        try:
            stamp = index.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        hit = self._cache_atlases.get(d)
        if hit is None or hit[0] != stamp:
            try:
                hit = (stamp, Atlas(d))
            except Exception:  # damaged cache: recomputed on demand
                return None
            self._cache_atlases[d] = hit
        return hit[1]

    def _sources(self, key: MapKey, s: ViewSettings) -> list[Atlas]:
        found = [a for a in self.atlases if _provides(a, key, s, self.size(s))]
        cached = self._cached(self._cache_dir(key.group, s))
        return found + ([cached] if cached is not None and key in cached.map_keys else [])

    def available(self, key: MapKey, s: ViewSettings) -> set[int]:
        """Frames whose ``key`` map is ready without computing."""
        done: set[int] = set()
        for a in self._sources(key, s):
            done |= a.done
        return done

    # ------------------------------------------------------------- segmentation
    def _stored_labels(self, size: str) -> list[np.ndarray] | None:
        """Every frame's segmentation from the atlases at ``size`` (``pred``), if together they hold every frame."""
        holders = [a for a in self.atlases if a.index.get("size") == size]
        holders += [a for a in (self._cached(i.parent) for i in sorted(self.cache.glob("*/index.json")))
                    if a is not None and a.index.get("size") == size]
        out: list[np.ndarray | None] = [None] * len(self.sequence)
        for a in holders:
            for i in a.done:
                if out[i] is None and a.has(i):
                    out[i] = a.load(i, ["pred"]).get("pred")
        return None if any(o is None for o in out) else out  # type: ignore[return-value]

    def has_labels(self, s: ViewSettings) -> bool:
        """Whether :meth:`labels` of ``s`` is in memory (answers without reading or computing)."""
        return self.size(s) in self._labels

    def segmented(self, s: ViewSettings) -> int:
        """How many frames (from frame 0) of the segmentation at the size ``s`` asks for are in memory."""
        size = self.size(s)
        if size in self._labels:
            return len(self._labels[size])
        return len(self._partial[size][1]) if size in self._partial else 0

    def _read_labels(self, size: str) -> list[np.ndarray] | None:
        """Every frame's segmentation from the atlases or the cache on disk (``None``: not stored)."""
        labels = self._stored_labels(size)
        path = self.cache / f"labels-{size}.npz"
        if labels is None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    if str(z["fingerprint"]) == self._fingerprint():
                        labels = [z[f"f{i}"] for i in range(len(self.sequence))]
            except (OSError, ValueError, KeyError):
                labels = None  # damaged: segmented again
        return labels

    def _fingerprint(self) -> str:
        return json.dumps(sequence_fingerprint(self.sequence), sort_keys=True)

    def labels(self, s: ViewSettings, progress: Callable[[str], None] | None = None,
               segment: bool = True) -> list[np.ndarray] | None:
        """The model's segmentation of every frame (``[H, W]`` object ids each) at the size ``s`` asks for.

        From the atlases when they hold every frame, else from the cache on
        disk, else the video is segmented once (then cached), going on from
        where :meth:`labels_until` stopped; ``segment=False`` returns ``None``
        instead of segmenting.
        """
        size = self.size(s)
        if size not in self._labels:
            if not segment and size in self._unstored:  # asked on every run of the page: read once
                return None
            labels = self._read_labels(size)
            if labels is None:
                if not segment:
                    self._unstored.add(size)
                    return None
                if progress is not None:
                    progress(f"segmenting {self.sequence.name} with {self.label}")
                return self.labels_until(s, len(self.sequence) - 1)
            self._labels[size] = labels
        return self._labels[size]

    def labels_until(self, s: ViewSettings, frame: int) -> list[np.ndarray]:
        """The segmentation of frames ``0..frame`` at least (``[H, W]`` object ids each), as a prefix of
        :meth:`labels`: the video is segmented as far as asked, one frame at a time (the mask of frame
        ``frame`` needs the frames before it, never the ones after).  Once the last frame is done, the whole
        segmentation is kept and cached as :meth:`labels` keeps it."""
        size = self.size(s)
        if size in self._labels:
            return self._labels[size]
        if size not in self._partial:
            stored = self._read_labels(size)
            if stored is not None:
                self._labels[size] = stored
                return stored
            predictor = VideoPredictor(self.model, size=size)
            self._partial[size] = (iter(predictor.propagate(self.sequence, check=False)), [])
        frames, done = self._partial[size]
        while len(done) <= frame:
            try:
                result = next(frames, None)
            except BaseException:  # a frame that cannot be read: the next request starts over and says so again
                del self._partial[size]
                raise
            if result is None:
                break
            done.append(result.labels)
        if len(done) == len(self.sequence):
            del self._partial[size]
            buf = io.BytesIO()
            np.savez_compressed(buf, fingerprint=np.array(self._fingerprint()),
                                **{f"f{i}": l for i, l in enumerate(done)})
            atomic_write_bytes(self.cache / f"labels-{size}.npz", buf.getvalue())
            self._labels[size] = done
        return done

    # --------------------------------------------------------------------- maps
    def get(self, frame: int, keys: Iterable[MapKey], s: ViewSettings,
            progress: Callable[[str], None] | None = None) -> dict[MapKey | str, np.ndarray]:
        """The maps ``keys`` of ``frame`` (``[K, H, W]`` each) and ``"pred"``, computing what is missing.

        Args:
            progress: called with a message before anything is computed.
        """
        out: dict[MapKey | str, np.ndarray] = {}
        for key in keys:
            src = next((a for a in self._sources(key, s) if a.has(frame)), None)
            if src is None:
                labels = self.labels_until(s, frame)
                if progress is not None:
                    progress(f"computing {key.title} of frame {self.sequence.frame_name(frame)}")
                src = build_atlas(self.model, self.sequence, self._cache_dir(key.group, s),
                                  s.group_config(key.group), frames=[frame], progress=False, size=self.size(s),
                                  predictions=labels)
            data = src.load(frame, [key.name] if "pred" in out else [key.name, "pred"])
            out[key] = data[key.name]
            if "pred" in data:
                out["pred"] = data["pred"]
        return out

    def metrics(self, s: ViewSettings) -> list[dict]:
        """Metric rows of every source matching ``s`` (atlases and the cache)."""
        rows: list[dict] = []
        seen: set[tuple] = set()
        for key in s.map_keys():
            for a in self._sources(key, s):
                for r in a.metrics():
                    ident = (r["method"], r["frame"], r["object"])
                    if r["method"] == key.name and ident not in seen:
                        seen.add(ident)
                        rows.append(r)
        return rows
