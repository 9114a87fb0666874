"""The synthetic benchmark: layout, determinism, masks that match their frames, distractors."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from erfkit.data import DavisDataset
from erfkit.data.synth import SYNTH_PRESETS, SynthConfig, make_synth, render_video
from erfkit.errors import ConfigError, DataError


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_layout_and_splits(tiny_synth):
    cfg = SYNTH_PRESETS["tiny"]
    train = DavisDataset(tiny_synth, "train")
    val = DavisDataset(tiny_synth, "val")
    assert len(train) == cfg.train_videos and len(val) == cfg.val_videos
    assert train.resolution == f"{cfg.height}p"
    seq = val[val.names[0]]
    assert len(seq) == cfg.frames
    assert seq.read_frame(0).shape == (cfg.height, cfg.width, 3)
    info = json.loads((tiny_synth / "synth.json").read_text())
    assert info["config"]["seed"] == 0 and set(info["videos"]) == set(train.names) | set(val.names)


def test_same_seed_gives_byte_identical_files_whatever_the_workers(tmp_path, tiny_synth):
    again = make_synth(tmp_path / "again", "tiny", progress=False, workers=2)
    assert _digest(again) == _digest(tiny_synth)
    other = make_synth(tmp_path / "other", dataclasses.replace(SYNTH_PRESETS["tiny"], seed=1), progress=False)
    assert _digest(other) != _digest(tiny_synth)


def test_every_mask_matches_its_frame(tiny_synth):
    """Masks on disk are the rendered label maps; frames are the rendered images up to JPEG loss."""
    cfg = SYNTH_PRESETS["tiny"]
    ds = DavisDataset(tiny_synth, "val")
    for index, name in enumerate(ds.names):
        rname, frames, masks, info = render_video(cfg, "val", index)
        assert rname == name
        seq = ds[name]
        first_ids = set(np.unique(masks[0])) - {0}
        assert first_ids == set(range(1, info["num_objects"] + 1))  # every object visible at frame 0
        for t in range(cfg.frames):
            assert np.array_equal(seq.read_annotation(t), masks[t])
            jpeg = seq.read_frame(t).astype(float)
            err = np.sqrt(np.mean((jpeg - frames[t]) ** 2))
            assert 20 * np.log10(255 / max(err, 1e-9)) > 28  # PSNR of the JPEG against the render
            for k in first_ids:  # an object's pixels are the object's (interior: JPEG blends edges)
                inside = binary_erosion(masks[t] == k, iterations=2)
                if inside.sum() > 10:
                    assert np.abs(jpeg[inside] - frames[t][inside]).mean() < 8


def test_objects_move_and_distractors_are_unannotated():
    cfg = dataclasses.replace(SYNTH_PRESETS["default"], distractor_prob=1.0, frames=12)
    name, frames, masks, info = render_video(cfg, "val", 0)
    assert name.endswith("-distractor") and info["distractor"] is not None
    k = info["distractor"]["copies_object"]
    # the distractor is drawn (pixels change where no object is annotated) but labelled 0
    assert set(np.unique(masks[0])) - {0} == set(range(1, info["num_objects"] + 1))
    c0 = np.argwhere(masks[0] == k).mean(0)
    c1 = np.argwhere(masks[-1] == k).mean(0) if (masks[-1] == k).any() else c0 + 100
    assert np.linalg.norm(c1 - c0) > 3  # the target moved


def test_refuses_to_overwrite_and_validates_config(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="exists and is not empty"):
        make_synth(tmp_path / "x", "tiny", progress=False)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
    with pytest.raises(ConfigError):
        SynthConfig(frames=1)
    with pytest.raises(ConfigError):
        make_synth(tmp_path / "y", "nope", progress=False)
    assert not (tmp_path / "y").exists()


def test_default_preset_is_the_documented_size():
    cfg = SYNTH_PRESETS["default"]
    assert (cfg.train_videos, cfg.val_videos, cfg.height, cfg.width) == (60, 20, 240, 427)
    assert cfg.frames >= 30
