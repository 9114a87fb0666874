"""Reading and writing frames and index masks.

Masks are single-channel PNGs whose pixel value is the object id (0 is the
background, 255 is "void").  They are read as raw indices whatever the palette,
as the DAVIS toolkit does; they are written as indexed PNGs with the DAVIS
(PASCAL VOC) palette, atomically.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from ..files import atomic_write_bytes

try:  # zlib-ng inflates these mostly-empty masks many times faster than zlib
    from zlib_ng import zlib_ng as _inflate
except ImportError:  # pragma: no cover - optional speed-up
    _inflate = zlib  # type: ignore[assignment]

__all__ = ["VOID", "davis_palette", "read_mask", "write_mask", "read_frame", "image_size", "mask_bytes"]

#: pixel value of "void" (unlabelled) pixels in DAVIS annotations.
VOID = 255

_MASK_MODES = {"P", "L", "1", "I;16", "I"}


def davis_palette() -> bytes:
    """The 256-colour PASCAL VOC palette used by DAVIS: 0 black, 1 (128,0,0), 2 (0,128,0) ..."""
    pal = bytearray()
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += bytes((r, g, b))
    return bytes(pal)


_PALETTE = davis_palette()


def _open(source: str | os.PathLike | io.BytesIO, what: str, path: str | os.PathLike | None = None) -> Image.Image:
    path = source if path is None else path
    try:
        im = Image.open(source)
        im.load()
    except FileNotFoundError:
        raise DataError(f"{what} not found", path) from None
    except IsADirectoryError:
        raise DataError(f"is a folder, not a {what} file", path) from None
    except UnidentifiedImageError:
        raise DataError(f"not an image (corrupt or unknown format) where a {what} was expected", path) from None
    except (OSError, SyntaxError, ValueError, struct.error, zlib.error) as e:
        raise DataError(f"corrupt or truncated {what} ({e})", path) from None
    return im


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _decode_png_fast(data: bytes) -> np.ndarray | None:
    """Decode the common case directly: 8-bit palette/grey, not interlaced, every row filter 0.

    That is what DAVIS and Pillow write for index masks.  Returns ``None`` for
    anything else (and for anything malformed) so that Pillow decides.
    """
    if not data.startswith(_PNG_SIGNATURE):
        return None
    pos, n = 8, len(data)
    width = height = 0
    idat: list[bytes] = []
    try:
        while pos + 8 <= n:
            length, ctype = struct.unpack_from(">I4s", data, pos)
            body = data[pos + 8: pos + 8 + length]
            if len(body) != length:
                return None
            if ctype == b"IHDR":
                width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
                if depth != 8 or colour not in (0, 3) or interlace != 0:
                    return None
            elif ctype == b"IDAT":
                idat.append(body)
            elif ctype == b"IEND":
                break
            pos += 12 + length
        else:
            return None
        if not idat or not width:
            return None
        raw = _inflate.decompress(b"".join(idat))
    except (struct.error, zlib.error, ValueError, OSError):
        return None
    except Exception:  # zlib-ng raises its own error type
        return None
    if len(raw) != height * (width + 1):
        return None
    rows = np.frombuffer(bytearray(raw), np.uint8).reshape(height, width + 1)  # writable
    if rows[:, 0].any():
        return None
    return rows[:, 1:]


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read an index mask.

    Args:
        path: a PNG in mode ``P`` (indexed, any palette), ``L`` or ``1``.

    Returns:
        ``[H, W]`` uint8 array of object ids (255 = void, kept as is).

    Raises:
        DataError: missing, corrupt or truncated file, or a colour (RGB/RGBA)
            image where an index mask was expected.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError("mask not found", path) from None
    except IsADirectoryError:
        raise DataError("is a folder, not a mask file", path) from None
    fast = _decode_png_fast(data)
    if fast is not None:
        return fast
    im = _open(io.BytesIO(data), "mask", path)
    if im.mode not in _MASK_MODES:
        raise DataError(f"mask is a {im.mode} image; expected an indexed (P) or grayscale (L) PNG of object ids", path)
    arr = np.asarray(im)
    if arr.dtype != np.uint8:
        if arr.max(initial=0) > 255:
            raise DataError(f"mask holds ids up to {int(arr.max())}; at most 255 are supported", path)
        arr = arr.astype(np.uint8)
    elif im.mode == "1":
        arr = arr.astype(np.uint8)
    return arr


def mask_bytes(mask: np.ndarray, palette: bytes | None = None) -> bytes:
    """Encode ``mask`` ``[H, W]`` (uint8 ids) as an indexed PNG with the DAVIS palette."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask is 2-D [H, W], got shape {mask.shape}")
    if mask.dtype != np.uint8:
        if mask.size and (mask.min() < 0 or mask.max() > 255):
            raise ValueError("mask ids must lie in 0..255")
        mask = mask.astype(np.uint8)
    im = Image.fromarray(mask)
    im.putpalette(palette or _PALETTE)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def write_mask(path: str | os.PathLike, mask: np.ndarray, palette: bytes | None = None) -> None:
    """Write ``mask`` ``[H, W]`` as an indexed PNG (DAVIS palette), atomically."""
    atomic_write_bytes(path, mask_bytes(mask, palette))


def read_frame(path: str | os.PathLike) -> np.ndarray:
    """Read a video frame as ``[H, W, 3]`` uint8 RGB (grayscale is expanded).

    Raises:
        DataError: missing, corrupt or truncated file.
    """
    im = _open(path, "frame")
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image, reading its header only."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DataError(f"not a readable image ({e})", path) from None
    return h, w


def list_images(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files of ``folder`` with one of ``suffixes`` (case-insensitive), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes
                  and not p.name.startswith("."))
