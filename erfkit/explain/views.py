"""Maps of one (checkpoint, video) for interactive browsing: from atlases, else computed once and cached.

A :class:`MapStore` answers "the cycle-ERF / classic ERF / saliency maps of
frame ``l``".  It first looks in the atlases it was given (built with
``erfkit erf``) for one made from the same checkpoint, video and settings;
what no atlas holds is computed for that frame only and written to a cache
on disk (itself an atlas per method group), so a second visit is instant.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..data.letterbox import format_size, parse_size
from ..data.video import VideoSequence
from ..model.checkpoint import checkpoint_input_size
from ..model.stm import STM
from .atlas import Atlas, AtlasConfig, build_atlas, model_fingerprint

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


def _group(key: str) -> str:
    if key == "cycle":
        return "cycle"
    if key.startswith("erf_"):
        return "classic"
    return "saliency"


def _provides(atlas: Atlas, key: str, s: ViewSettings, size: str) -> bool:
    """Whether ``atlas`` was computed with the settings ``key`` needs, at the input ``size`` (``"HxW"``/``"native"``)."""
    cfg = atlas.config
    if key not in cfg.keys or cfg.target != s.target or atlas.index.get("size") != size:
        return False
    if key == "cycle":
        return (cfg.steps, cfg.rate, cfg.bootstrap) == (s.steps, s.rate, s.group_config("cycle").bootstrap)
    if key.startswith("erf_"):
        return cfg.reduction == s.reduction
    return True


def find_atlases(roots: Iterable[str | os.PathLike]) -> list[Atlas]:
    """Every readable atlas under the given folders."""
    out = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for index in sorted(root.rglob("index.json")):
            try:
                out.append(Atlas(index.parent))
            except Exception:  # not an atlas, or a damaged one: skip it
                continue
    return out


class MapStore:
    """Maps of one model on one video.

    Args:
        model: the STM.
        sequence: the video.
        atlases: atlases to read from (any checkpoint/video; matching ones are used).
        cache: folder for maps computed on demand.
    """

    def __init__(self, model: STM, sequence: VideoSequence, atlases: list[Atlas], cache: str | os.PathLike):
        self.model = model
        self.sequence = sequence
        self.sha = model_fingerprint(model)
        self.default_size = format_size(checkpoint_input_size(model))
        self.atlases = [a for a in atlases if a.checkpoint_sha256 == self.sha and a.sequence == sequence.name]
        self.cache = Path(cache) / self.sha[:16] / sequence.name
        self._cache_atlases: dict[Path, tuple[int, Atlas]] = {}

    def _size(self, s: ViewSettings) -> str:
        return self.default_size if s.size == "checkpoint" else format_size(parse_size(s.size))

    def _cache_dir(self, group: str, s: ViewSettings) -> Path:
        cfg = json.dumps({**s.group_config(group).to_dict(), "size": self._size(s)}, sort_keys=True).encode()
        return self.cache / f"{group}-{hashlib.sha256(cfg).hexdigest()[:12]}"

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

    def _sources(self, key: str, s: ViewSettings) -> list[Atlas]:
        found = [a for a in self.atlases if _provides(a, key, s, self._size(s))]
        cached = self._cached(self._cache_dir(_group(key), s))
        return found + ([cached] if cached is not None else [])

    def available(self, key: str, s: ViewSettings) -> set[int]:
        """Frames whose ``key`` map is ready without computing."""
        done: set[int] = set()
        for a in self._sources(key, s):
            done |= a.done
        return done

    def get(self, frame: int, keys: list[str], s: ViewSettings,
            progress: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
        """The maps ``keys`` of ``frame`` (``[K, H, W]`` each) and ``pred``, computing what is missing.

        Args:
            progress: called with a message before anything is computed.
        """
        out: dict[str, np.ndarray] = {}
        for key in keys:
            src = next((a for a in self._sources(key, s) if a.has(frame)), None)
            if src is None:
                if progress is not None:
                    progress(f"computing {key} of frame {self.sequence.frame_name(frame)}")
                src = build_atlas(self.model, self.sequence, self._cache_dir(_group(key), s),
                                  s.group_config(_group(key)), frames=[frame], progress=False, size=self._size(s))
            data = src.load(frame, [key] if "pred" in out else [key, "pred"])
            out.update(data)
        return out

    def metrics(self, s: ViewSettings) -> list[dict]:
        """Metric rows of every source matching ``s`` (atlases and the cache)."""
        rows: list[dict] = []
        seen: set[tuple] = set()
        for key in ("cycle", "erf_memory", "erf_query", f"saliency_{s.saliency_method}_memory",
                    f"saliency_{s.saliency_method}_query"):
            for a in self._sources(key, s):
                for r in a.metrics():
                    ident = (r["method"], r["frame"], r["object"])
                    if r["method"] == key and ident not in seen:
                        seen.add(ident)
                        rows.append(r)
        return rows
