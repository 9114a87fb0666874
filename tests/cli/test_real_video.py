"""``erfkit segment`` and ``erfkit erf`` on real video frames (DAVIS 2017 val, 480x854).

The shipped checkpoints were trained at 240x427: at the default size the frames
are letterboxed to that canvas and every output comes back at 480x854.  The
inputs are DAVIS roots in tmp_path holding a few frames of a real video as
links (shared data is never copied); only frame 00000 has ground truth.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from erfkit.cli import main
from erfkit.data.masks import read_mask
from erfkit.explain.atlas import Atlas
from erfkit.inference.runner import RUN_MANIFEST

from ..real_data import link_davis_subset

CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "stm-tiny-cyclic"



def test_segment_real_frames_at_the_default_size_with_gc(tmp_path, real_frames):
    # 6 frames: with --gc-every 5 (default) frame 00005 is corrected (each corrected frame costs seconds)
    data = link_davis_subset(real_frames, tmp_path / "DAVIS", "dog", 6)
    out = tmp_path / "res"
    assert main(["segment", "--checkpoint", str(CHECKPOINT), "--data", str(data), "--out", str(out),
                 "--gc-iters", "10"]) == 0
    settings = json.loads((out / RUN_MANIFEST).read_text())
    assert settings["size"] == "240x427" and settings["gc"]["iters"] == 10
    pngs = sorted((out / "dog").glob("*.png"))
    assert [p.stem for p in pngs] == [f"{i:05d}" for i in range(6)]
    for p in pngs:
        with Image.open(p) as im:
            assert im.mode == "P" and im.size == (854, 480)
        assert set(np.unique(read_mask(p))) <= {0, 1}
    given = read_mask(real_frames / "Annotations" / "480p" / "dog" / "00000.png")
    assert np.array_equal(read_mask(pngs[0]), given)


def test_atlas_of_real_frames_is_at_the_file_size(tmp_path, real_frames):
    data = link_davis_subset(real_frames, tmp_path / "DAVIS", "drift-straight", 3)
    out = tmp_path / "atlas"
    assert main(["erf", "--checkpoint", str(CHECKPOINT), "--data", str(data), "--sequence", "drift-straight",
                 "--out", str(out), "--frames", "0-2", "--steps", "3", "--methods", "cycle,classic",
                 "--metrics-every", "0", "--sanity-every", "0"]) == 0  # the map metrics only: quick
    atlas = Atlas(out)
    assert atlas.done == {0, 1, 2}
    for t in range(3):
        maps = atlas.load(t)
        for key in ("cycle", "erf_query", "erf_memory"):
            m = maps[key].astype(np.float32)
            assert m.shape == (1, 480, 854), (key, m.shape)
            assert np.isfinite(m).all() and np.abs(m).max() > 0, key
        assert maps["pred"].shape == (480, 854)
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == {"cycle", "erf_query", "erf_memory"}
    assert {r["frame"] for r in rows} == {"00000", "00001", "00002"}
    assert all(np.isfinite(float(r["energy"])) for r in rows)
