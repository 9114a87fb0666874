"""Atomic file writing: a reader never sees a half-written file.

Every output of erfkit (masks, checkpoints, CSV tables, atlas arrays, figures)
is written to a temporary file in the destination folder and moved into place
with :func:`os.replace`, which is atomic on POSIX file systems.  A process
killed mid-write leaves at most a ``.tmp`` file behind, never a truncated
output under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, TypeVar

from .errors import ErfkitError

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "find_readable"]

T = TypeVar("T")


def _file_mode() -> int:
    """Permissions of a normally created file under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` when the block ends cleanly.

    Args:
        path: final destination; its parent folders are created.
        mode: ``"wb"`` or ``"w"``.

    Yields:
        the open temporary file.  If the block raises, the temporary file is
        removed and ``path`` is left as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write supports modes 'w' and 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def find_readable(roots: Iterable[str | os.PathLike], filename: str, open_fn: Callable[[Path], T]) -> list[T]:
    """``open_fn(folder)`` of every folder under ``roots`` holding ``filename``; those it refuses are skipped.

    ``open_fn`` refuses a folder by raising :class:`~erfkit.errors.ErfkitError`
    (not ours, or damaged) or :class:`OSError` (unreadable).  Missing roots are skipped.
    """
    out = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for f in sorted(root.rglob(filename)):
            try:
                out.append(open_fn(f.parent))
            except (ErfkitError, OSError):
                continue
    return out
