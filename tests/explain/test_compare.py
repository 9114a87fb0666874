"""erfkit compare: statistics on stores where the answer is known, the report, refusals."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from erfkit.cli import main
from erfkit.errors import DataError
from erfkit.explain.compare import REPORT_COLUMNS, compare_stores
from erfkit.explain.dataset import DATASET_COLUMNS, STORE_FORMAT, DatasetStore


def _store(root: Path, values: dict[str, list[float]], *, steps: int = 50, label: str = "x",
           sequences: list[str] | None = None) -> DatasetStore:
    """A store whose cycle-ERF energy of video v, frame f is values[v][f] (J = energy too)."""
    root.mkdir(parents=True)
    names = sequences or sorted(values)
    (root / "store.json").write_text(json.dumps({
        "format": STORE_FORMAT, "version": 1, "checkpoint": {"sha256": label, "label": label},
        "config": {"steps": steps, "rate": 180.0}, "size": "240x427", "data": "/d", "split": "val",
        "sequences": names}))
    with open(root / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, DATASET_COLUMNS)
        w.writeheader()
        for v, frames in values.items():
            for i, e in enumerate(frames):
                w.writerow({"sequence": v, "frame": f"{i:05d}", "object": 1, "method": "cycle", "energy": e,
                            "pointing": 1.0, "area50": "", "deletion": "", "insertion": "", "sanity": "", "J": e,
                            "checkpoint": label, "target": "00000"})
    return DatasetStore(root)


def _get(results, metric):
    return next(r for r in results if r.metric == metric)


def test_a_constant_gain_is_found_exactly(tmp_path):
    base = {f"v{i}": [0.1 * i + 0.01 * f for f in range(5)] for i in range(6)}
    a = _store(tmp_path / "a", base)
    b = _store(tmp_path / "b", {v: [x + 0.1 for x in xs] for v, xs in base.items()}, label="y")
    r = _get(compare_stores(a, b, reps=500), "cycle/energy")
    assert r.n == 30 and r.videos == 6
    assert r.difference == pytest.approx(0.1) and r.ci_low == pytest.approx(0.1) and r.ci_high == pytest.approx(0.1)
    assert r.p_value == pytest.approx(2 * 0.5 ** 6)  # all six videos agree
    assert r.cyclic - r.baseline == pytest.approx(0.1)
    p = _get(compare_stores(a, b, reps=500), "cycle/pointing")
    assert p.difference == 0 and p.p_value == 1.0  # no video differs
    assert math.isfinite(_get(compare_stores(a, b, reps=500), "J").difference)


def test_the_interval_comes_from_videos_not_frames(tmp_path):
    """Two videos, one gaining 1 on 100 frames, the other losing 1: frames would give a narrow interval
    around 0; videos give one spanning both."""
    base = {"a": [0.0] * 100, "b": [0.0] * 100}
    a = _store(tmp_path / "a", base)
    b = _store(tmp_path / "b", {"a": [1.0] * 100, "b": [-1.0] * 100}, label="y")
    r = _get(compare_stores(a, b, reps=2000), "cycle/energy")
    assert r.difference == pytest.approx(0.0)
    assert r.ci_low == pytest.approx(-1.0) and r.ci_high == pytest.approx(1.0)
    assert r.p_value == 1.0


def test_report_files_and_refusals(tmp_path, capsys):
    base = {f"v{i}": [0.2 + 0.05 * ((i * 7 + f) % 5) for f in range(4)] for i in range(5)}
    a = _store(tmp_path / "a", base)
    b = _store(tmp_path / "b", {v: [x + 0.03 * (i % 3) for x in xs] for i, (v, xs) in enumerate(base.items())},
               label="y")
    out = tmp_path / "r"
    assert main(["compare", str(a.path), str(b.path), "--out", str(out), "--reps", "300"]) == 0
    with open(out / "report.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == REPORT_COLUMNS and rows[0]["metric"] == "cycle/energy"
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "http" not in page.replace("http-equiv", "")
    for name in ("per_video_differences", "distributions"):
        assert (out / f"{name}.png").is_file() and (out / f"{name}.pdf").is_file()
    assert "cycle/energy" in capsys.readouterr().out
    other = _store(tmp_path / "c", base, steps=10, label="z")
    fewer = _store(tmp_path / "d", {"v0": base["v0"]}, label="w")
    for store, fragment in ((other, "other settings (steps)"), (fewer, "other sequences")):
        assert main(["compare", str(a.path), str(store.path), "--out", str(tmp_path / "no")]) == 2
        assert fragment in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "no").exists()
    with pytest.raises(DataError, match="not an explanation store"):
        DatasetStore(tmp_path)
