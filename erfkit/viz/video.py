"""Animations from RGB frames: GIF (Pillow) and MP4 (PyAV, H.264), written atomically.

PyAV rather than imageio-ffmpeg: both install from PyPI with FFmpeg bundled
and both wrote H.264 here, but PyAV encodes in-process (errors are Python
exceptions, no ffmpeg subprocess and pipe to manage), keeps the frame size as
given (imageio-ffmpeg resizes to multiples of 16 unless told otherwise) and
writes to an open file, so the MP4 is replaced atomically like every output.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..errors import ConfigError
from ..files import atomic_write

__all__ = ["write_gif", "write_mp4", "write_animation", "ANIMATION_SUFFIXES"]

ANIMATION_SUFFIXES = (".gif", ".mp4")


def _check(images: Sequence[np.ndarray]) -> None:
    if not images:
        raise ConfigError("no frames to write")
    shape = images[0].shape
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f"frames are [H, W, 3] uint8, got {shape}")
    if any(im.shape != shape for im in images):
        raise ValueError("frames of different sizes")


def write_gif(path: str | os.PathLike, images: Sequence[np.ndarray], fps: float = 8.0) -> Path:
    """``images`` (``[H, W, 3]`` uint8 each) as a looping GIF, one image per frame."""
    _check(images)
    frames = [Image.fromarray(np.ascontiguousarray(im, dtype=np.uint8)) for im in images]
    with atomic_write(path) as f:
        frames[0].save(f, format="GIF", save_all=True, append_images=frames[1:], duration=round(1000 / fps),
                       loop=0, optimize=False)
    return Path(path)


def write_mp4(path: str | os.PathLike, images: Sequence[np.ndarray], fps: float = 8.0) -> Path:
    """``images`` as an H.264 MP4 (yuv420p; an odd width or height is padded by one white pixel)."""
    import av
    from fractions import Fraction

    _check(images)
    h, w = images[0].shape[:2]
    H, W = h + h % 2, w + w % 2
    with atomic_write(path) as f:
        with av.open(f, "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            for im in images:
                if (H, W) != (h, w):
                    im = np.pad(im, ((0, H - h), (0, W - w), (0, 0)), constant_values=255)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(im, dtype=np.uint8), format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return Path(path)


def write_animation(path: str | os.PathLike, images: Sequence[np.ndarray], fps: float = 8.0) -> Path:
    """A GIF or an MP4, by the suffix of ``path``.

    Raises:
        ConfigError: another suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        return write_gif(path, images, fps)
    if suffix == ".mp4":
        return write_mp4(path, images, fps)
    raise ConfigError(f"{path}: write a .gif or an .mp4, not {suffix or 'a file without suffix'!r}")
