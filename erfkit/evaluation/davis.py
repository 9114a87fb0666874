"""The DAVIS 2017 semi-supervised protocol, as the official toolkit computes it.

* The number of objects of a sequence is the largest id in its FIRST ground-truth
  frame (ids absent from that frame still count); void (255) is background.
* The first and the last frame are excluded.
* A prediction holding an id larger than the object count is an error; ids
  missing from the predictions are empty masks.
* Per object: Mean = nanmean, Recall = nanmean(v > 0.5), Decay = mean of the
  first quarter minus mean of the last (bins from ``round(linspace(1, n, 5)) - 1``,
  neighbouring bins sharing a frame).
* Global numbers are means over ALL objects; ``J&F-Mean = (J-Mean + F-Mean) / 2``.

Only ``Annotations`` and ``ImageSets`` are read (no JPEG frames).
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..data.davis import DavisDataset, marked_pseudo_truth
from ..data.masks import VOID, read_mask
from ..errors import DataError
from ..files import atomic_write_text
from .measures import bound_radius, frame_measures
from .pseudo_truth import PSEUDO_TRUTH_RULE, PseudoTruthRule

__all__ = [
    "SequenceScores",
    "DavisResults",
    "db_statistics",
    "score_sequence",
    "evaluate_sequence_files",
    "evaluate_davis",
    "GLOBAL_COLUMNS",
]

GLOBAL_COLUMNS = ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]


def db_statistics(values: np.ndarray) -> tuple[float, float, float]:
    """Mean, recall and decay of one object's per-frame values (the toolkit's ``db_statistics``).

    Args:
        values: ``[n]`` per-frame J or F.

    Returns:
        ``(mean, recall, decay)``.  (The toolkit stores the bin indices as
        uint8, which wraps for sequences of more than 256 frames; this
        implementation does not wrap.)
    """
    values = np.asarray(values, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = float(np.nanmean(values))
        recall = float(np.nanmean(values > 0.5))
        ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(int)
        bins = [values[ids[i]: ids[i + 1] + 1] for i in range(4)]
        decay = float(np.nanmean(bins[0]) - np.nanmean(bins[3]))
    return mean, recall, decay


@dataclass
class SequenceScores:
    """Per-object, per-frame scores of one sequence.

    Attributes:
        name: the sequence.
        frames: names of the evaluated frames (the first and last excluded).
        J: ``[num_objects, len(frames)]`` region similarity.
        F: ``[num_objects, len(frames)]`` contour accuracy.
        left_out: frames not scored because their pseudo ground truth is implausible
            (:mod:`erfkit.evaluation.pseudo_truth`); empty for real ground truth.
    """

    name: str
    frames: list[str]
    J: np.ndarray
    F: np.ndarray
    left_out: list[str] = field(default_factory=list)

    def without(self, frames: Sequence[str]) -> "SequenceScores":
        """The same scores less ``frames`` (recorded in :attr:`left_out`)."""
        drop = set(frames)
        keep = [i for i, f in enumerate(self.frames) if f not in drop]
        return SequenceScores(self.name, [self.frames[i] for i in keep], self.J[:, keep], self.F[:, keep],
                              sorted(set(self.left_out) | (drop & set(self.frames))))

    @property
    def num_objects(self) -> int:
        return self.J.shape[0]

    @property
    def jf(self) -> float:
        """``(mean J + mean F) / 2`` over objects and frames."""
        return float((self.J.mean() + self.F.mean()) / 2)

    def object_names(self) -> list[str]:
        return [f"{self.name}_{k + 1}" for k in range(self.num_objects)]

    def statistics(self) -> list[dict[str, float]]:
        """Per object: J/F Mean, Recall, Decay."""
        rows = []
        for k in range(self.num_objects):
            jm, jr, jd = db_statistics(self.J[k])
            fm, fr, fd = db_statistics(self.F[k])
            rows.append({"J-Mean": jm, "J-Recall": jr, "J-Decay": jd, "F-Mean": fm, "F-Recall": fr, "F-Decay": fd})
        return rows


@dataclass
class DavisResults:
    """Scores of a whole split; :meth:`global_scores` gives the table users quote."""

    split: str
    sequences: list[SequenceScores] = field(default_factory=list)

    def per_object(self) -> list[tuple[str, dict[str, float]]]:
        return [(n, st) for s in self.sequences for n, st in zip(s.object_names(), s.statistics())]

    def left_out(self) -> dict[str, list[str]]:
        """The frames left out of each sequence's score (pseudo ground truth found implausible)."""
        return {s.name: s.left_out for s in self.sequences if s.left_out}

    def global_scores(self) -> dict[str, float]:
        """Means over all objects: ``J&F-Mean, J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay``."""
        rows = [st for _, st in self.per_object()]
        if not rows:
            return {c: float("nan") for c in GLOBAL_COLUMNS}
        g = {c: float(np.mean([r[c] for r in rows])) for c in GLOBAL_COLUMNS[1:]}
        return {"J&F-Mean": (g["J-Mean"] + g["F-Mean"]) / 2, **g}

    @property
    def jf(self) -> float:
        return self.global_scores()["J&F-Mean"]

    def global_csv(self) -> str:
        return _csv([GLOBAL_COLUMNS, [self.global_scores()[c] for c in GLOBAL_COLUMNS]])

    def per_sequence_csv(self) -> str:
        return _csv([["Sequence", "J-Mean", "F-Mean"]] +
                    [[n, st["J-Mean"], st["F-Mean"]] for n, st in self.per_object()])

    def write_csv(self, folder: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``global_results-<split>.csv`` and ``per-sequence_results-<split>.csv`` (atomically)."""
        folder = Path(folder)
        g = folder / f"global_results-{self.split}.csv"
        s = folder / f"per-sequence_results-{self.split}.csv"
        atomic_write_text(g, self.global_csv())
        atomic_write_text(s, self.per_sequence_csv())
        return g, s

    def table(self) -> str:
        """The global and per-object tables as text, 3 decimals."""
        g = self.global_scores()
        lines = [f"Global results for {self.split}:",
                 "  ".join(f"{c:>9}" for c in GLOBAL_COLUMNS),
                 "  ".join(f"{g[c]:>9.3f}" for c in GLOBAL_COLUMNS),
                 "",
                 f"Per-object results for {self.split}:"]
        objs = self.per_object()
        width = max([len("Sequence")] + [len(n) for n, _ in objs])
        lines.append(f"{'Sequence':<{width}}  {'J-Mean':>7}  {'F-Mean':>7}")
        lines += [f"{n:<{width}}  {st['J-Mean']:>7.3f}  {st['F-Mean']:>7.3f}" for n, st in objs]
        for name, frames in self.left_out().items():
            lines.append(f"{name}: {len(frames)} pseudo ground-truth frame(s) left out ({PSEUDO_TRUTH_RULE.describe()}): "
                         f"{', '.join(frames)}")
        return "\n".join(lines)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.3f}"
    return str(v)


def _csv(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([_fmt(v) for v in r])
    return buf.getvalue()


def score_sequence(gt_masks: Sequence[np.ndarray], pred_masks: Sequence[np.ndarray], name: str = "sequence",
                   frame_names: Sequence[str] | None = None) -> SequenceScores:
    """Score one sequence held in memory.

    Args:
        gt_masks: every ground-truth frame ``[H, W]`` in order (255 = void).
        pred_masks: predictions for the same frames (the first and last are
            not read and may be ``None``).
        name: the sequence name.
        frame_names: names of the frames (default ``00000``, ``00001`` ...).

    Returns:
        :class:`SequenceScores` over frames ``1 .. n-2``.
    """
    n = len(gt_masks)
    if n < 3:
        raise DataError(f"sequence has {n} frame(s); at least 3 are needed (the first and last are not scored)", name)
    if len(pred_masks) != n:
        raise DataError(f"{len(pred_masks)} predictions for {n} ground-truth frames", name)
    names = list(frame_names) if frame_names is not None else [f"{i:05d}" for i in range(n)]
    first = np.where(gt_masks[0] == VOID, 0, gt_masks[0])
    K = int(first.max(initial=0))
    r = bound_radius(first.shape)
    J = np.ones((K, n - 2))
    F = np.ones((K, n - 2))
    for i in range(1, n - 1):
        gt = np.where(gt_masks[i] == VOID, 0, gt_masks[i])
        pred = pred_masks[i]
        _check_prediction(pred, gt, K, f"{name}/{names[i]}")
        J[:, i - 1], F[:, i - 1] = frame_measures(pred, gt, K, r)
    return SequenceScores(name, names[1:-1], J, F)


def _check_prediction(pred: np.ndarray, gt: np.ndarray, K: int, where: str | os.PathLike) -> None:
    if pred.shape != gt.shape:
        raise DataError(f"prediction is {pred.shape[1]}x{pred.shape[0]} but the ground truth is "
                        f"{gt.shape[1]}x{gt.shape[0]}", where)
    top = int(pred.max(initial=0))
    if top > K:
        raise DataError(f"prediction holds object id {top} but the sequence has {K} object(s) "
                        "(the largest id of its first ground-truth frame)", where)


def evaluate_sequence_files(name: str, gt_files: list[Path], result_dir: Path,
                            pseudo_truth: PseudoTruthRule | None = None) -> SequenceScores:
    """Score one sequence from its annotation files and a folder of result PNGs.

    ``pseudo_truth``: the annotations after the first are pseudo ground truth; frames
    that this rule finds implausible are left out (:attr:`SequenceScores.left_out`).
    """
    n = len(gt_files)
    if n < 3:
        raise DataError(f"sequence has {n} annotated frame(s); at least 3 are needed "
                        "(the first and last are not scored)", gt_files[0].parent if gt_files else name)
    if not result_dir.is_dir():
        raise DataError(f"no results for sequence {name!r}", result_dir)
    first = read_mask(gt_files[0])
    first = np.where(first == VOID, 0, first)
    K = int(first.max(initial=0))
    r = bound_radius(first.shape)
    J = np.ones((K, n - 2))
    F = np.ones((K, n - 2))
    areas = [int((first > 0).sum())]
    for i in range(1, n - 1):
        gt = read_mask(gt_files[i])
        gt[gt == VOID] = 0
        areas.append(int((gt > 0).sum()))
        res = result_dir / gt_files[i].name
        if not res.is_file():
            raise DataError(f"missing result frame (one PNG per ground-truth frame is needed, e.g. {gt_files[i].name})",
                            res)
        pred = read_mask(res)
        _check_prediction(pred, gt, K, res)
        J[:, i - 1], F[:, i - 1] = frame_measures(pred, gt, K, r)
    scores = SequenceScores(name, [p.stem for p in gt_files[1:-1]], J, F)
    if pseudo_truth is None:
        return scores
    return scores.without([gt_files[i].stem for i in pseudo_truth.flag(areas, first.size)])


def _job(args: tuple[str, list[Path], Path, PseudoTruthRule | None]) -> SequenceScores | DataError:
    try:
        return evaluate_sequence_files(*args)
    except DataError as e:  # carried back to the parent, raised there
        return e


def evaluate_davis(data: str | os.PathLike, results: str | os.PathLike, split: str = "val", *,
                   workers: int | None = None, resolution: str | None = None, progress: bool = True,
                   sequences: Iterable[str] | None = None,
                   pseudo_truth: PseudoTruthRule | None | str = "auto") -> DavisResults:
    """Evaluate a results folder against a DAVIS 2017-layout dataset.

    Args:
        data: dataset root (``Annotations`` and ``ImageSets`` are enough).
        results: folder with ``<sequence>/<frame>.png`` index masks.
        split: the ``ImageSets/2017`` list to evaluate.
        workers: processes (default: the CPU count, at most 8).
        resolution: annotation resolution folder (found when there is one).
        progress: show a progress bar.
        sequences: evaluate only these sequences of the split.
        pseudo_truth: the annotations after each first frame are pseudo ground truth: leave out
            the frames this rule finds implausible (e.g. :data:`~erfkit.evaluation.pseudo_truth.PSEUDO_TRUTH_RULE`;
            :meth:`DavisResults.left_out` lists them).  ``None``: every frame counts.  ``"auto"``:
            the rule when ``data`` is marked as pseudo ground truth (:func:`~erfkit.data.davis.marked_pseudo_truth`,
            e.g. the demo data), otherwise ``None``.

    Returns:
        :class:`DavisResults`; call ``.write_csv(results)`` for the official files.

    Raises:
        DataError: missing result frames or sequences, size mismatches, ids
            above the object count (naming the file).
    """
    ds = DavisDataset(data, split, resolution, frames=False)
    if pseudo_truth == "auto":
        pseudo_truth = PSEUDO_TRUTH_RULE if marked_pseudo_truth(data) else None
    res_root = Path(results)
    if not res_root.is_dir():
        raise DataError("results folder not found", res_root)
    names = list(ds.names) if sequences is None else list(sequences)
    jobs = []
    for n in names:
        files = ds.annotation_files(n)
        jobs.append((n, files, res_root / n, pseudo_truth))
    order = {n: i for i, n in enumerate(names)}
    workers = max(1, min(workers or min(os.cpu_count() or 1, 8), len(jobs)))
    out: list[SequenceScores] = []
    with tqdm(total=len(jobs), desc=f"eval {split}", unit="seq", disable=not progress) as bar:
        if workers == 1:
            for j in jobs:
                r = _job(j)
                if isinstance(r, DataError):
                    raise r
                out.append(r)
                bar.update()
        else:
            # Longest sequences first balances the workers.
            jobs.sort(key=lambda j: -len(j[1]))
            ctx = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
            with ctx.Pool(workers) as pool:
                for r in pool.imap_unordered(_job, jobs):
                    if isinstance(r, DataError):
                        pool.terminate()
                        raise r
                    out.append(r)
                    bar.update()
    out.sort(key=lambda s: order[s.name])
    return DavisResults(split, out)
