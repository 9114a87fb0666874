"""A plain folder of frames plus one first-frame mask."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .masks import VOID, list_images, read_mask
from .video import FRAME_SUFFIXES, VideoSequence

__all__ = ["folder_sequence"]


def folder_sequence(frames: str | os.PathLike, first_mask: str | os.PathLike, name: str | None = None) -> VideoSequence:
    """A video made of the images in ``frames`` (sorted by name) and ``first_mask`` for the first one.

    Args:
        frames: folder of ``.jpg``/``.jpeg``/``.png`` frames.
        first_mask: index PNG of the first frame's objects.
        name: sequence name (default: the folder's name).
    """
    folder = Path(frames)
    if not folder.is_dir():
        raise DataError("frames folder not found", folder)
    paths = list_images(folder, FRAME_SUFFIXES)
    if not paths:
        raise DataError("folder holds no frames (.jpg, .jpeg or .png)", folder)
    mask_path = Path(first_mask)
    mask = read_mask(mask_path)
    ids = [int(o) for o in np.unique(mask) if o not in (0, VOID)]
    return VideoSequence(name or folder.name, paths, {0: mask_path}, {o: 0 for o in ids})
