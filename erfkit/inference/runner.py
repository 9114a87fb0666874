"""Running the predictor over whole videos and datasets, writing DAVIS-layout results."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tqdm.auto import tqdm

from ..data.masks import write_mask
from ..data.video import VideoSequence
from ..errors import DataError
from ..files import atomic_write_json
from .predictor import Propagator

__all__ = ["SegmentStats", "segment_sequence", "segment_dataset", "RUN_MANIFEST"]

RUN_MANIFEST = ".erfkit-segment.json"


@dataclass
class SegmentStats:
    """What a run did: frames segmented and the time the model took (I/O excluded)."""

    sequences: int = 0
    frames: int = 0
    seconds: float = 0.0
    skipped: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


def segment_sequence(predictor: Propagator, sequence: VideoSequence, out_dir: str | os.PathLike | None,
                     *, progress: bool = False, keep: bool = False) -> tuple[SegmentStats, list]:
    """Segment one video (:meth:`Propagator.propagate`) and write one indexed PNG per frame.

    Args:
        predictor: a :class:`VideoPredictor` (STM), an :class:`~erfkit.inference.XMemPredictor`
            or any other :class:`Propagator` (reset here).
        sequence: the video; its prompts give the objects.
        out_dir: folder for ``<frame>.png`` (``None``: write nothing).
        progress: show a per-frame progress bar.
        keep: also return the label maps (``[H, W]`` uint8 each).

    Returns:
        ``(stats, labels)``; ``labels`` is empty unless ``keep``.
    """
    stats = SegmentStats(sequences=1)
    kept = []
    final = Path(out_dir) if out_dir is not None else None
    # The masks go to a hidden folder that becomes out_dir only when the video is complete.
    out = None if final is None else final.parent / f".{final.name}.partial"
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
    try:
        for r in predictor.propagate(sequence, progress=progress):
            stats.seconds += r.seconds
            stats.frames += 1
            if out is not None:
                write_mask(out / f"{r.name}.png", r.labels)
            if keep:
                kept.append(r.labels)
    except BaseException:
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
        raise
    if out is not None and final is not None:
        if final.exists():
            shutil.rmtree(final)
        out.rename(final)
    return stats, kept


def _complete(sequence: VideoSequence, out_dir: Path) -> bool:
    return out_dir.is_dir() and all((out_dir / f"{n}.png").is_file() for n in sequence.frame_names)


def segment_dataset(predictor: Propagator, sequences: Iterable[VideoSequence], out_root: str | os.PathLike,
                    *, progress: bool = True, overwrite: bool = False, total: int | None = None) -> SegmentStats:
    """Segment many videos into ``out_root/<sequence>/<frame>.png``.

    The run is restartable: a manifest of the settings is written first, each
    PNG is written atomically, and a re-run with the same settings skips the
    videos that are complete.  Results of other settings are not mixed in:
    that is an error unless ``overwrite``.
    """
    out = Path(out_root)
    manifest = out / RUN_MANIFEST
    settings = predictor.settings()
    resume = False
    if manifest.is_file() and not overwrite:
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            previous = None
        if previous != settings:
            raise DataError("results folder holds results of other settings",
                            out, option="overwrite")
        resume = True
    atomic_write_json(manifest, settings)
    stats = SegmentStats()
    with tqdm(sequences, total=total, desc="segment", unit="video", disable=not progress) as bar:
        for seq in bar:
            if resume and _complete(seq, out / seq.name):
                stats.skipped += 1
                continue
            s, _ = segment_sequence(predictor, seq, out / seq.name)
            stats.sequences += 1
            stats.frames += s.frames
            stats.seconds += s.seconds
            bar.set_postfix(fps=f"{stats.fps:.1f}")
    return stats
