"""An atlas on disk: :class:`Atlas` reads it, :class:`AtlasWriter` writes it (atomically, resumable).

Layout::

    ATLAS/index.json                  identity (checkpoint, data, settings, size), frames done
    ATLAS/frames/<frame>.npz          the maps of one frame (float16, compressed), ``pred``, ``cycle_loss``
    ATLAS/frames/<frame>.metrics.json the metric rows of that frame
    ATLAS/metrics.csv                 one tidy table (checkpoint, method, frame, object, ...)

Every file is written atomically; a frame is done when its metric rows are
written (after its maps), so a build that is killed resumes where it stopped,
and several processes may write frames of one atlas at once (each frame's
files are its own; the index's ``done`` list is informational).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
import zlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ...errors import DataError
from ...files import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..keys import MapKey
from ..metrics import METRIC_COLUMNS
from .config import AtlasConfig, settings_of

__all__ = ["Atlas", "AtlasWriter", "ATLAS_FORMAT", "ATLAS_VERSION", "TABLE_COLUMNS"]

ATLAS_FORMAT = "erfkit-atlas"
ATLAS_VERSION = 1
TABLE_COLUMNS = ["checkpoint", "sequence", "method", "target", "frame", "object"] + METRIC_COLUMNS
#: what must agree for an existing atlas to be completed rather than replaced
_IDENTITY = ("sequence", "frames", "data", "config", "size")


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
        self._done: set[int] | None = None

    @property
    def frames(self) -> list[str]:
        return list(self.index["frames"])

    @property
    def objects(self) -> list[int]:
        return list(self.index["objects"])

    @property
    def done(self) -> set[int]:
        """The frames whose maps and metric rows are written (read from the folder once)."""
        if self._done is None:
            try:
                names = set(os.listdir(self.path / "frames"))
            except FileNotFoundError:
                names = set()
            self._done = {i for i, n in enumerate(self.frames)
                          if f"{n}.metrics.json" in names and f"{n}.npz" in names}
        return self._done

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

    @property
    def map_keys(self) -> list[MapKey]:
        return self.config.map_keys

    def frame_file(self, index: int) -> Path:
        return self.path / "frames" / f"{self.frames[index]}.npz"

    def has(self, index: int) -> bool:
        return index in self.done and self.frame_file(index).is_file()

    def load(self, index: int, keys: Iterable[str | MapKey] | None = None) -> dict[str, np.ndarray]:
        """The arrays of frame ``index``: each map ``[K, H, W]`` (float16), ``pred [H, W]``, ``cycle_loss``.

        Args:
            keys: only these arrays (map keys or stored names; each is
                decompressed only when asked for).  The result is keyed by name.

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
                names = z.files if keys is None else [k for k in map(str, keys) if k in z.files]
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


def metrics_table(rows: list[dict[str, Any]]) -> str:
    """Metric rows -> the CSV text of ``metrics.csv`` (:data:`TABLE_COLUMNS`)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, TABLE_COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


class AtlasWriter:
    """Writes one atlas: opens (completes or replaces) it, then one frame at a time, then the table.

    Args:
        out: the atlas folder.
        identity: what the atlas is computed from (``format``, ``version``,
            ``sequence``, ``frames``, ``checkpoint``, ``data``, ``config``, ``size``).
        overwrite: replace an atlas of another identity instead of refusing.

    Raises:
        DataError: ``out`` holds an atlas of another identity and not ``overwrite``.
    """

    def __init__(self, out: str | os.PathLike, identity: dict[str, Any], *, overwrite: bool = False):
        self.out = Path(out)
        self.identity = json.loads(json.dumps(identity))  # as stored (tuples become lists), for comparisons
        self.done: list[int] = []
        self.extra: dict[str, Any] = {}
        index_path = self.out / "index.json"
        if index_path.is_file():
            old = Atlas(self.out).index
            same = all(old.get(k) == self.identity[k] for k in _IDENTITY if k != "config") and \
                settings_of(old.get("config")) == settings_of(self.identity["config"]) and \
                old["checkpoint"]["sha256"] == self.identity["checkpoint"]["sha256"]
            if not same:
                if not overwrite:
                    raise DataError("atlas holds maps of other settings, checkpoint or data", self.out,
                                    option="overwrite")
                shutil.rmtree(self.out / "frames", ignore_errors=True)
            else:
                self.done = sorted(Atlas(self.out).done)

    def write_index(self, **extra: Any) -> None:
        """Write ``index.json`` (identity, frames done, and ``extra`` such as ``objects`` and ``target``)."""
        self.extra.update(extra)
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.out / "index.json", {**self.identity, "done": sorted(self.done), **self.extra,
                                                    "updated": time.strftime("%Y-%m-%dT%H:%M:%S")})

    def write_frame(self, index: int, arrays: dict[str, np.ndarray], rows: list[dict[str, Any]]) -> None:
        """Write frame ``index``'s arrays and metric rows, then mark it done in the index."""
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        name = self.identity["frames"][index]
        atomic_write_bytes(self.out / "frames" / f"{name}.npz", buf.getvalue())
        atomic_write_json(self.out / "frames" / f"{name}.metrics.json", rows)
        self.done.append(index)
        self.write_index()

    def finish(self) -> Atlas:
        """Write ``metrics.csv`` from every finished frame; the atlas as read back."""
        atlas = Atlas(self.out)
        atomic_write_text(self.out / "metrics.csv", metrics_table(atlas.metrics()))
        return atlas
