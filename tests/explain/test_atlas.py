"""The per-video atlas: layout, resumption, identity checks, fast loading, the metric table."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from erfkit.cli import main
from erfkit.data import DavisDataset
from erfkit.errors import DataError
from erfkit.explain import Atlas, AtlasConfig, build_atlas
from erfkit.model.checkpoint import save_checkpoint

FAST = AtlasConfig(steps=3, batch_size=2, metrics_every=2, sanity_every=3, deletion_steps=3)


@pytest.fixture(scope="module")
def video(tiny_synth):
    ds = DavisDataset(tiny_synth, "val")
    return ds[ds.names[0]]


def test_build_load_and_table(tmp_path, tiny_model, video):
    atlas = build_atlas(tiny_model, video, tmp_path / "a", FAST, progress=False)
    assert atlas.done == set(range(len(video)))
    K = len(atlas.objects)
    t0 = time.perf_counter()
    maps = atlas.load(2)
    assert time.perf_counter() - t0 < 0.5
    assert set(maps) == set(FAST.keys) | {"pred", "cycle_loss"}
    for key in FAST.keys:
        assert maps[key].shape == (K, *video.size) and (maps[key] >= 0).all()
    assert maps["cycle_loss"].shape == (FAST.steps + 1,)
    index = json.loads((tmp_path / "a" / "index.json").read_text())
    assert len(index["checkpoint"]["sha256"]) == 64 and index["config"]["steps"] == 3 and "data" in index
    lines = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
    assert lines[0] == "checkpoint,sequence,method,target,frame,object,energy,pointing,area50,deletion,insertion,sanity"
    rows = atlas.metrics()
    assert len(rows) == len(video) * len(FAST.keys) * K == len(lines) - 1
    with_del = [r for r in rows if not np.isnan(r["deletion"])]
    assert {r["frame"] for r in with_del} == {video.frame_name(i) for i in range(0, len(video), 2)}
    with_sanity = [r for r in rows if not np.isnan(r["sanity"])]
    assert {r["frame"] for r in with_sanity} == {video.frame_name(i) for i in range(0, len(video), 3)}


def test_resumes_only_what_is_missing(tmp_path, tiny_model, video):
    out = tmp_path / "r"
    build_atlas(tiny_model, video, out, FAST, frames=[0, 1], progress=False)
    first = (out / "frames" / f"{video.frame_name(0)}.npz").stat().st_mtime_ns
    atlas = build_atlas(tiny_model, video, out, FAST, progress=False)
    assert atlas.done == set(range(len(video)))
    assert (out / "frames" / f"{video.frame_name(0)}.npz").stat().st_mtime_ns == first  # not recomputed


def test_other_settings_are_not_mixed(tmp_path, tiny_model, video):
    out = tmp_path / "m"
    build_atlas(tiny_model, video, out, FAST, frames=[0], progress=False)
    other = AtlasConfig(steps=4, batch_size=2, metrics_every=0, sanity_every=0)
    with pytest.raises(DataError, match="other settings"):
        build_atlas(tiny_model, video, out, other, frames=[0], progress=False)
    atlas = build_atlas(tiny_model, video, out, other, frames=[1], progress=False, overwrite=True)
    assert atlas.done == {1}


def test_reader_errors(tmp_path, tiny_model, video):
    with pytest.raises(DataError, match="no index.json"):
        Atlas(tmp_path)
    (tmp_path / "index.json").write_text("{broken")
    with pytest.raises(DataError, match="malformed"):
        Atlas(tmp_path)
    atlas = build_atlas(tiny_model, video, tmp_path / "x", FAST, frames=[0], progress=False)
    with pytest.raises(DataError, match="not computed"):
        atlas.load(1)
    (tmp_path / "x" / "frames" / f"{video.frame_name(0)}.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="corrupt atlas frame"):
        atlas.load(0)


def test_cli_verb(tmp_path, tiny_model, tiny_synth, video, capsys):
    ck = save_checkpoint(tiny_model, tmp_path / "ck")
    rc = main(["erf", "--checkpoint", str(ck), "--data", str(tiny_synth), "--sequence", video.name,
               "--out", str(tmp_path / "atlas"), "--steps", "2", "--frames", "0-2", "--methods", "cycle,classic",
               "--metrics-every", "0", "--sanity-every", "0"])
    assert rc == 0 and "3/8 frames" in capsys.readouterr().out
    assert main(["erf", "--checkpoint", str(ck), "--data", str(tiny_synth), "--sequence", "nope",
                 "--out", str(tmp_path / "a2")]) == 2
