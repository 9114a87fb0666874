"""The DAVIS 2017 layout.

``ROOT/JPEGImages/<res>/<seq>/00000.jpg``, ``ROOT/Annotations/<res>/<seq>/00000.png``
and ``ROOT/ImageSets/2017/<split>.txt`` (one sequence name a line).  ``<res>`` is
any resolution folder (``480p``, ``Full-Resolution`` ...); when there is only
one it is found without being named.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError
from .masks import VOID, list_images, read_mask
from .video import FRAME_SUFFIXES, VideoSequence

__all__ = ["DavisDataset", "find_resolution", "read_split", "PSEUDO_TRUTH_MARKER", "marked_pseudo_truth"]

#: a file of this name in a DAVIS root says its annotations after the first frame are pseudo ground truth
PSEUDO_TRUTH_MARKER = "PSEUDO_GROUND_TRUTH"


def marked_pseudo_truth(root: str | os.PathLike) -> bool:
    """Whether the DAVIS root holds the :data:`PSEUDO_TRUTH_MARKER` file (e.g. ``demo/davis2017-real``)."""
    return (Path(root) / PSEUDO_TRUTH_MARKER).is_file()


def find_resolution(root: Path, resolution: str | None) -> str:
    """The resolution folder under ``ROOT/Annotations`` to use."""
    ann = root / "Annotations"
    if not ann.is_dir():
        raise DataError("not a DAVIS dataset: no Annotations folder", root)
    found = sorted(p.name for p in ann.iterdir() if p.is_dir())
    if resolution is not None:
        if resolution not in found:
            raise DataError(f"no resolution folder {resolution!r} (found: {', '.join(found) or 'none'})", ann)
        return resolution
    if len(found) == 1:
        return found[0]
    if "480p" in found:
        return "480p"
    raise DataError(f"several resolution folders ({', '.join(found) or 'none'}); choose one", ann,
                    option="resolution")


def read_split(root: Path, split: str, year: str = "2017") -> list[str]:
    """Sequence names listed in ``ROOT/ImageSets/<year>/<split>.txt``."""
    path = root / "ImageSets" / year / f"{split}.txt"
    if not path.is_file():
        sets = root / "ImageSets" / year
        have = sorted(p.stem for p in sets.glob("*.txt")) if sets.is_dir() else []
        raise DataError(f"split {split!r} not found (available: {', '.join(have) or 'none'})", path)
    try:
        names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as e:
        raise DataError(f"not a UTF-8 text file ({e.reason})", path) from None
    names = [n for n in names if n]
    for n in names:
        if n in (".", "..") or "/" in n or "\\" in n or os.path.isabs(n):
            raise DataError(f"sequence name {n!r} names a path outside the dataset", path)
    return names


class DavisDataset:
    """Sequences of a DAVIS 2017-layout dataset.

    Args:
        root: the dataset folder.
        split: name of the list in ``ImageSets/2017`` (``train``, ``val`` ...).
        resolution: the resolution folder; found automatically when there is one.
        frames: whether JPEG frames are needed (the evaluator needs only
            ``Annotations`` and ``ImageSets``).

    Raises:
        DataError: missing folders, a listed sequence absent, a mask with no
            frame.
    """

    def __init__(self, root: str | os.PathLike, split: str = "val", resolution: str | None = None,
                 *, frames: bool = True):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError("dataset folder not found", self.root)
        self.split = split
        self.resolution = find_resolution(self.root, resolution)
        self.needs_frames = frames
        self.names = read_split(self.root, split)
        self.split_file = self.root / "ImageSets" / "2017" / f"{split}.txt"
        for n in self.names:
            if not (self.annotation_dir(n)).is_dir():
                raise DataError(f"sequence {n!r} is listed but {self.annotation_dir(n)} does not exist",
                                self.split_file)
            if frames and not self.frame_dir(n).is_dir():
                raise DataError(f"sequence {n!r} has no frame folder {self.frame_dir(n)}", self.split_file)

    def annotation_dir(self, name: str) -> Path:
        return self.root / "Annotations" / self.resolution / name

    def frame_dir(self, name: str) -> Path:
        return self.root / "JPEGImages" / self.resolution / name

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[VideoSequence]:
        for n in self.names:
            yield self[n]

    def annotation_files(self, name: str) -> list[Path]:
        return list_images(self.annotation_dir(name), (".png",))

    def __getitem__(self, name: str) -> VideoSequence:
        if name not in self.names:
            raise DataError(f"no sequence {name!r} in split {self.split!r}", self.split_file)
        anns = self.annotation_files(name)
        if self.needs_frames:
            frames = list_images(self.frame_dir(name), FRAME_SUFFIXES)
            if not frames:
                raise DataError("sequence has no frames", self.frame_dir(name))
            index = {p.stem: i for i, p in enumerate(frames)}
            for a in anns:
                if a.stem not in index:
                    raise DataError(f"annotation has no frame (missing {a.stem}.jpg)", a)
        else:
            frames = anns
            index = {p.stem: i for i, p in enumerate(frames)}
        annotations = {index[a.stem]: a for a in anns}
        object_frames: dict[int, int] = {}
        if annotations and 0 in annotations:
            first = read_mask(annotations[0])
            object_frames = {int(o): 0 for o in np.unique(first) if o not in (0, VOID)}
        elif self.needs_frames:
            raise DataError(f"first frame {frames[0].name} has no annotation", self.annotation_dir(name))
        return VideoSequence(name, frames, annotations, object_frames)
