"""Baseline against cyclic over a dataset: paired differences of every map metric, with video-level confidence.

The two stores (:class:`~erfkit.explain.dataset.DatasetStore`) must hold the
same videos, computed with the same settings at the same input size.  For
each method and metric, the units both hold (sequence, frame, object) are
paired; the difference is ``cyclic - baseline`` averaged over them.  Frames
of one video are not independent, so the uncertainty comes from the videos:

* the 95% confidence interval is a percentile bootstrap that resamples
  videos (with all their units), not frames;
* the p-value is a two-sided sign test on the per-video mean differences
  (videos whose mean difference is exactly 0 are left out).

``J`` (the frame's segmentation J) is compared once per (sequence, frame, object).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import binomtest

from ..errors import DataError
from .atlas import settings_of
from .dataset import DatasetStore
from .metrics import METRIC_COLUMNS

__all__ = ["PairedDifference", "compare_stores", "comparable", "REPORT_COLUMNS"]

REPORT_COLUMNS = ["metric", "n", "baseline", "cyclic", "difference", "ci_low", "ci_high", "p_value"]


@dataclass
class PairedDifference:
    """One metric of one method, paired over the units both stores hold.

    Attributes:
        metric: ``"<method>/<metric>"`` (e.g. ``cycle/energy``) or ``J``.
        n: paired units; videos: the videos they come from.
        baseline, cyclic: means over the units; difference: mean of ``cyclic - baseline``.
        ci_low, ci_high: the 95% bootstrap interval of ``difference`` (resampling videos).
        p_value: two-sided sign test over the videos' mean differences.
        per_video: each video's mean difference.
        pairs: the unit values ``[n, 2]`` (baseline, cyclic), for distributions.
    """

    metric: str
    n: int
    videos: int
    baseline: float
    cyclic: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    per_video: dict[str, float] = field(default_factory=dict)
    pairs: np.ndarray | None = None

    def row(self) -> dict:
        return {c: getattr(self, c) for c in REPORT_COLUMNS}


def comparable(a: DatasetStore, b: DatasetStore) -> None:
    """Refuse two stores that cannot be compared, naming the first difference.

    Raises:
        DataError: other settings, input size, split, data or sequences.
    """
    for key in ("config", "size", "split", "data", "sequences"):
        x, y = a.identity.get(key), b.identity.get(key)
        if key == "config":
            x, y = settings_of(x), settings_of(y)
        if x != y:
            if key == "config":
                diff = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
                raise DataError(f"the two stores were computed with other settings ({', '.join(diff)})", b.path)
            if key == "sequences":
                only = sorted(set(x) ^ set(y))
                raise DataError(f"the two stores hold other sequences ({', '.join(only[:3]) or 'another order'})",
                                b.path)
            raise DataError(f"the two stores differ in {key} ({x!r} and {y!r})", b.path)


def _bootstrap(sums: np.ndarray, counts: np.ndarray, reps: int, seed: int) -> tuple[float, float]:
    """Percentile 95% interval of the unit-weighted mean, resampling videos (their sums and counts)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(sums), size=(reps, len(sums)))
    stats = sums[idx].sum(1) / counts[idx].sum(1)
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))


def _sign_test(per_video: np.ndarray) -> float:
    pos, neg = int((per_video > 0).sum()), int((per_video < 0).sum())
    return 1.0 if pos + neg == 0 else float(binomtest(pos, pos + neg, 0.5).pvalue)


def _paired(metric: str, units: dict[tuple, tuple[float, float]], reps: int, seed: int) -> PairedDifference | None:
    by_video: dict[str, list[float]] = defaultdict(list)
    pairs = []
    for key, (x, y) in units.items():
        if math.isfinite(x) and math.isfinite(y):
            by_video[key[0]].append(y - x)
            pairs.append((x, y))
    if not pairs:
        return None
    videos = sorted(by_video)
    sums = np.array([sum(by_video[v]) for v in videos])
    counts = np.array([len(by_video[v]) for v in videos], dtype=float)
    means = sums / counts
    p = np.array(pairs)
    lo, hi = _bootstrap(sums, counts, reps, seed)
    return PairedDifference(metric, len(pairs), len(videos), float(p[:, 0].mean()), float(p[:, 1].mean()),
                            float(sums.sum() / counts.sum()), lo, hi, _sign_test(means),
                            dict(zip(videos, map(float, means))), p)


def compare_stores(baseline: DatasetStore, cyclic: DatasetStore, *, reps: int = 2000,
                   seed: int = 0) -> list[PairedDifference]:
    """Paired differences (cyclic - baseline) of every method's metrics, and of J.

    Args:
        baseline, cyclic: the two stores (same settings and videos).
        reps: bootstrap resamples.
        seed: the bootstrap's seed (the report is reproducible).

    Raises:
        DataError: stores that cannot be compared, or that share no unit.
    """
    comparable(baseline, cyclic)
    rows_a, rows_b = baseline.rows(), cyclic.rows()
    index_b = {(r["sequence"], r["frame"], r["object"], r["method"]): r for r in rows_b}
    methods = sorted({r["method"] for r in rows_a}, key=lambda m: (m != "cycle", m))
    out: list[PairedDifference] = []
    shared = 0
    for method in methods:
        for metric in METRIC_COLUMNS:
            units = {}
            for r in rows_a:
                if r["method"] != method:
                    continue
                key = (r["sequence"], r["frame"], r["object"], method)
                other = index_b.get(key)
                if other is not None:
                    units[key] = (r[metric], other[metric])
            shared = max(shared, len(units))
            res = _paired(f"{method}/{metric}", units, reps, seed)
            if res is not None:
                out.append(res)
    j_units = {}
    for r in rows_a:
        key = (r["sequence"], r["frame"], r["object"])
        other = index_b.get((*key, r["method"]))
        if other is not None and key not in j_units:
            j_units[key] = (r["J"], other["J"])
    res = _paired("J", j_units, reps, seed)
    if res is not None:
        out.append(res)
    if shared == 0:
        raise DataError("the two stores share no (sequence, frame, object, method)", cyclic.path)
    return out
