"""The YouTube-VOS (2018/2019) layout.

``ROOT/<split>/JPEGImages/<video>/<frame>.jpg``, ``ROOT/<split>/Annotations/<video>/<frame>.png``
and ``ROOT/<split>/meta.json``::

    {"videos": {"<video>": {"objects": {"<id>": {"category": "cat", "frames": ["00005", ...]}}}}}

Object ids equal pixel values and ``frames[0]`` is the object's first
appearance.  Frame names are 30 fps indices of every 5th frame and need not
start at ``00000``.  In ``valid`` an annotation exists only where objects first
appear and labels only those objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from ..errors import DataError
from .masks import list_images
from .video import FRAME_SUFFIXES, VideoSequence

__all__ = ["YouTubeVOSDataset"]


def _safe_name(name: Any) -> bool:
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name
            and "\\" not in name and "\x00" not in name and not os.path.isabs(name))


class YouTubeVOSDataset:
    """Videos of one YouTube-VOS split.

    Args:
        root: the dataset folder (holding ``train/`` and/or ``valid/``).
        split: ``"train"``, ``"valid"`` or any folder with the same layout.
        frames: whether JPEG frames are needed.

    Raises:
        DataError: missing or malformed ``meta.json`` (also one that names paths
            outside the dataset), a video without frames.
    """

    def __init__(self, root: str | os.PathLike, split: str = "valid", *, frames: bool = True):
        self.root = Path(root)
        self.split = split
        self.base = self.root / split
        self.meta_path = self.base / "meta.json"
        self.needs_frames = frames
        if not self.meta_path.is_file():
            raise DataError("meta.json not found (not a YouTube-VOS split)", self.meta_path)
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"malformed JSON ({e})", self.meta_path) from None
        videos = meta.get("videos") if isinstance(meta, dict) else None
        if not isinstance(videos, dict):
            raise DataError('expected {"videos": {...}} at the top level', self.meta_path)
        self.meta: dict[str, dict[int, tuple[str, list[str]]]] = {}
        for vid, entry in videos.items():
            if not _safe_name(vid):
                raise DataError(f"video name {vid!r} names a path outside the dataset", self.meta_path)
            objs = entry.get("objects") if isinstance(entry, dict) else None
            if not isinstance(objs, dict):
                raise DataError(f"video {vid!r} has no 'objects' mapping", self.meta_path)
            parsed: dict[int, tuple[str, list[str]]] = {}
            for oid, o in objs.items():
                try:
                    ident = int(oid)
                except (TypeError, ValueError):
                    raise DataError(f"video {vid!r}: object id {oid!r} is not an integer", self.meta_path) from None
                if not 1 <= ident <= 254:
                    raise DataError(f"video {vid!r}: object id {ident} outside 1..254", self.meta_path)
                fr = o.get("frames") if isinstance(o, dict) else None
                if not isinstance(fr, list) or not fr:
                    raise DataError(f"video {vid!r}, object {oid}: 'frames' must be a non-empty list",
                                    self.meta_path)
                for f in fr:
                    if not _safe_name(f):
                        raise DataError(f"video {vid!r}: frame name {f!r} names a path outside the dataset",
                                        self.meta_path)
                parsed[ident] = (str(o.get("category", "")), [str(f) for f in fr])
            self.meta[vid] = parsed
        self.names = sorted(self.meta)

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[VideoSequence]:
        for n in self.names:
            yield self[n]

    def __getitem__(self, name: str) -> VideoSequence:
        if name not in self.meta:
            raise DataError(f"no video {name!r}", self.meta_path)
        ann_dir = self.base / "Annotations" / name
        anns = list_images(ann_dir, (".png",)) if ann_dir.is_dir() else []
        if self.needs_frames:
            frame_dir = self.base / "JPEGImages" / name
            if not frame_dir.is_dir():
                raise DataError(f"video {name!r} has no frame folder", frame_dir)
            frames = list_images(frame_dir, FRAME_SUFFIXES)
            if not frames:
                raise DataError("video has no frames", frame_dir)
        else:
            frames = anns
        index = {p.stem: i for i, p in enumerate(frames)}
        annotations = {}
        for a in anns:
            if a.stem not in index:
                raise DataError(f"annotation has no frame (missing {a.stem}.jpg)", a)
            annotations[index[a.stem]] = a
        object_frames: dict[int, int] = {}
        categories: dict[int, str] = {}
        for oid, (cat, fr) in self.meta[name].items():
            first = fr[0]
            if first not in index:
                raise DataError(f"meta.json names frame {first!r} of video {name!r}, which does not exist",
                                self.meta_path)
            if index[first] not in annotations:
                raise DataError(f"object {oid} first appears at {first} but that frame has no annotation",
                                ann_dir / f"{first}.png")
            object_frames[oid] = index[first]
            categories[oid] = cat
        return VideoSequence(name, frames, annotations, object_frames, categories)
