"""Real object tracks: each object's masks over consecutive frames of a real video.

The synthetic ``tracks`` benchmark (:mod:`erfkit.data.synth_tracks`) moves
objects the way real objects move and deform, by taking their shapes from mask
sequences of real videos: the OSVOS masks of DAVIS 2017 val that sit beside the
repository (``../shared/data/davis2017-val-osvos-masks``, one DAVIS-layout
folder of palette PNGs per video).  The four videos the shipped models are
evaluated on are never used (:data:`EVALUATION_VIDEOS`).

::

    sources = track_sources("../shared/data/davis2017-val-osvos-masks")
    window = sources[0].window(start=10, stride=2, frames=32)     # [32, 480, 854] bool
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .masks import read_mask

__all__ = ["TrackSource", "track_sources", "EVALUATION_VIDEOS", "DEFAULT_TRACKS_ROOT"]

#: real videos the shipped checkpoints are evaluated on: never a source of shapes
EVALUATION_VIDEOS = ("dog", "drift-straight", "gold-fish", "horsejump-high")

#: the OSVOS masks beside a checkout (relative to the working directory, as ``make`` runs)
DEFAULT_TRACKS_ROOT = "../shared/data/davis2017-val-osvos-masks"


@dataclass(frozen=True)
class TrackSource:
    """One object of one real video: where its masks are and how large it is in each frame.

    Attributes:
        sequence: the video's folder name.
        object_id: the object's id in the masks.
        paths: every frame's mask file, in order.
        areas: ``[N]`` the object's pixel count in each frame.
        size: ``(H, W)`` of the masks.
    """

    sequence: str
    object_id: int
    paths: tuple[Path, ...]
    areas: np.ndarray
    size: tuple[int, int]

    @property
    def name(self) -> str:
        return f"{self.sequence}/{self.object_id}"

    def starts(self, frames: int, stride: int, min_area: float = 0.003, min_present: float = 0.7) -> list[int]:
        """First frames of the windows of ``frames`` masks (every ``stride``-th) where the object is well visible
        at the start (``min_area`` of the frame) and present in at least ``min_present`` of the window."""
        span = (frames - 1) * stride + 1
        total = self.size[0] * self.size[1]
        ok = []
        for s in range(0, len(self.paths) - span + 1):
            picked = self.areas[s:s + span:stride]
            if picked[0] >= min_area * total and (picked > 0).mean() >= min_present:
                ok.append(s)
        return ok

    def window(self, start: int, stride: int, frames: int) -> np.ndarray:
        """``[frames, H, W]`` bool: the object's masks from ``start``, every ``stride``-th frame."""
        return np.stack([read_mask(self.paths[start + i * stride]) == self.object_id for i in range(frames)])


def _sequence_sources(folder: Path) -> list[TrackSource]:
    paths = tuple(sorted(folder.glob("*.png")))
    if not paths:
        return []
    shape = None
    counts = []
    for p in paths:
        m = read_mask(p)
        if shape is not None and m.shape != shape:
            raise DataError(f"mask of size {m.shape[1]}x{m.shape[0]} in a video of {shape[1]}x{shape[0]}", p)
        shape = m.shape
        counts.append(np.bincount(m.ravel(), minlength=256))
    areas = np.stack(counts)  # [N, 256] pixels of each id in each frame
    ids = [k for k in range(1, 255) if areas[:, k].any()]
    return [TrackSource(folder.name, k, paths, areas[:, k].copy(), shape) for k in ids]


def track_sources(root: str | os.PathLike = DEFAULT_TRACKS_ROOT,
                  exclude: tuple[str, ...] = EVALUATION_VIDEOS) -> tuple[TrackSource, ...]:
    """Every object track of the mask sequences under ``root`` (one folder per video), minus ``exclude``.

    Reads every mask once (a few seconds for DAVIS 2017 val); the result is kept for the process.

    Raises:
        DataError: ``root`` is missing or holds no mask sequence.
    """
    return _track_sources(str(Path(root).resolve()), tuple(sorted(exclude)))


@functools.lru_cache(maxsize=4)
def _track_sources(root_path: str, exclude: tuple[str, ...]) -> tuple[TrackSource, ...]:
    root = Path(root_path)
    if not root.is_dir():
        raise DataError("the real mask sequences for the 'tracks' benchmark are not there (the OSVOS masks of "
                        "DAVIS 2017 val, beside the checkout; or give tracks_root)", root)
    out: list[TrackSource] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in exclude):
        out.extend(_sequence_sources(folder))
    if not out:
        raise DataError("no mask sequence (folders of PNG masks) found", root)
    return tuple(out)
