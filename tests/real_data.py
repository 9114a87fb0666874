"""Test data built from the shared real DAVIS frames: links, never copies."""

from __future__ import annotations

from pathlib import Path


def link_davis_subset(real_frames: Path, root: Path, sequence: str, frames: int) -> Path:
    """A DAVIS root (split ``val``) of the first ``frames`` frames of ``sequence`` and its first-frame mask, linked."""
    jpg = root / "JPEGImages" / "480p" / sequence
    ann = root / "Annotations" / "480p" / sequence
    jpg.mkdir(parents=True)
    ann.mkdir(parents=True)
    for src in sorted((real_frames / "JPEGImages" / "480p" / sequence).glob("*.jpg"))[:frames]:
        (jpg / src.name).symlink_to(src)
    (ann / "00000.png").symlink_to(real_frames / "Annotations" / "480p" / sequence / "00000.png")
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text(sequence + "\n")
    return root
