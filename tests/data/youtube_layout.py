"""A small YouTube-VOS layout made for tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from erfkit.data import write_mask


def object_masks(t: int, size=(32, 48)) -> np.ndarray:
    """Object 1 everywhere from frame 0; object 2 from the third frame on."""
    m = np.zeros(size, np.uint8)
    m[4 + t: 12 + t, 4:14] = 1
    if t >= 2:
        m[18:26, 20 + t: 30 + t] = 2
    return m


def make_youtube(root: Path, split: str = "valid", frames: int = 6, start: int = 5, sparse: bool = True) -> Path:
    """One video ``vid0`` with frames 00005, 00010, ...; object 2 appears at its third frame."""
    names = [f"{start + 5 * i:05d}" for i in range(frames)]
    base = root / split
    for i, n in enumerate(names):
        (base / "JPEGImages" / "vid0").mkdir(parents=True, exist_ok=True)
        img = np.full((32, 48, 3), 40 + 10 * i, np.uint8)
        Image.fromarray(img).save(base / "JPEGImages" / "vid0" / f"{n}.jpg")
        m = object_masks(i)
        if sparse:
            if i == 0:
                write_mask(base / "Annotations" / "vid0" / f"{n}.png", np.where(m == 1, 1, 0).astype(np.uint8))
            elif i == 2:
                write_mask(base / "Annotations" / "vid0" / f"{n}.png", np.where(m == 2, 2, 0).astype(np.uint8))
        else:
            write_mask(base / "Annotations" / "vid0" / f"{n}.png", m)
    meta = {"videos": {"vid0": {"objects": {
        "1": {"category": "cat", "frames": names},
        "2": {"category": "zebra", "frames": names[2:]},
    }}}}
    (base / "meta.json").write_text(json.dumps(meta))
    return root
