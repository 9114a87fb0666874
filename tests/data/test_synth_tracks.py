"""The ``tracks`` synthetic benchmark: real object shapes and motion (OSVOS masks of DAVIS 2017 val), a zooming
camera, motion blur, distractors; deterministic; the evaluation videos never used."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from erfkit.data import DavisDataset
from erfkit.data.masks import read_mask
from erfkit.data.synth import SYNTH_PRESETS, SynthConfig, make_synth, render_video
from erfkit.data.tracks import EVALUATION_VIDEOS, track_sources
from erfkit.errors import ConfigError, DataError

from .test_synth import _digest

#: small, fast, and every difficulty switched on
SMALL = dataclasses.replace(SYNTH_PRESETS["tracks"], train_videos=2, val_videos=2, frames=8, height=64, width=112)


@pytest.fixture(scope="module")
def tracks_root(shared):
    return shared / "data" / "davis2017-val-osvos-masks"


@pytest.fixture(scope="module")
def small(tracks_root):
    return dataclasses.replace(SMALL, tracks_root=str(tracks_root))


def test_sources_are_the_real_tracks_without_the_evaluation_videos(tracks_root):
    sources = track_sources(tracks_root)
    sequences = {s.sequence for s in sources}
    assert not sequences & set(EVALUATION_VIDEOS)
    assert len(sequences) == 30 - len(EVALUATION_VIDEOS)
    src = next(s for s in sources if s.sequence == "camel")
    mask = read_mask(src.paths[5])
    assert src.areas[5] == (mask == src.object_id).sum() > 0  # the pixel count of that object in that frame
    window = src.window(start=2, stride=2, frames=4)
    assert window.shape == (4, *src.size) and np.array_equal(window[1], read_mask(src.paths[4]) == src.object_id)
    assert track_sources(str(tracks_root)) is sources  # read once per process


def test_missing_tracks_is_one_clear_error(tmp_path):
    cfg = dataclasses.replace(SMALL, tracks_root=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="nowhere"):
        make_synth(tmp_path / "out", cfg, progress=False, workers=1)
    assert not (tmp_path / "out").exists()  # nothing half-written
    with pytest.raises(ConfigError, match="shapes"):
        SynthConfig(shapes="blobs")


def test_same_seed_same_bytes_whatever_the_workers(small, tmp_path):
    one = make_synth(tmp_path / "one", small, progress=False, workers=1)
    two = make_synth(tmp_path / "two", small, progress=False, workers=2)
    assert _digest(one) == _digest(two)
    ds = DavisDataset(one, "val")
    assert len(ds.names) == small.val_videos and ds[ds.names[0]].read_frame(0).shape == (64, 112, 3)


def test_every_object_is_visible_first_and_distractors_are_never_annotated(small):
    for index in range(4):
        name, frames, masks, info = render_video(small, "train", index)
        n = info["num_objects"]
        assert set(np.unique(masks[0])) - {0} == set(range(1, n + 1)), name
        assert all(set(np.unique(m)) <= set(range(n + 1)) for m in masks)
        assert all(o["track"].split("/")[0] not in EVALUATION_VIDEOS for o in info["objects"].values())
        assert name.startswith(f"train{index:03d}-" + info["objects"]["1"]["track"].split("/")[0])


def test_an_object_deforms_as_its_real_track_does(small, tracks_root):
    """Alone, unmoved by the camera: its area follows its source's area, frame by frame."""
    calm = dataclasses.replace(small, objects=(1, 1), occlusion_prob=0.0, leave_prob=0.0, distractor_prob=0.0,
                               camera_motion=0.0, zoom=1.0, height=240, width=427, frames=12)
    name, frames, masks, info = render_video(calm, "val", 0)
    o = info["objects"]["1"]
    sequence, object_id = o["track"].split("/")
    src = next(s for s in track_sources(tracks_root) if s.sequence == sequence and s.object_id == int(object_id))
    real = src.areas[o["start"]:o["start"] + 12 * o["stride"]:o["stride"]].astype(float)
    shown = np.array([(m == 1).sum() for m in masks], float)
    inside = shown > 0.02 * shown[0]  # frames where the object is not (nearly) out of the frame
    ratio = (shown / shown[0])[inside] / (real / real[0])[inside]
    assert np.abs(ratio - 1).max() < 0.2, ratio


def test_motion_blur_spreads_a_moving_object(small):
    from erfkit.data.synth_tracks import _affine, _Layer, _render_layer
    from erfkit.data.sprites import sprite_library

    track = np.zeros((1, 40, 40), bool)
    track[0, 10:30, 10:30] = True
    layer = _Layer(track, "square/1", sprite_library()[0], 1, 2.0, np.zeros((1, 2)), np.ones(3, np.float32),
                   np.array([[19.5, 19.5]]))
    still, _, sharp = _render_layer(layer, 0, _affine(1.0, np.zeros(2)), 80, 80, 1.0, np.zeros(2))
    moving, _, sharp_moving = _render_layer(layer, 0, _affine(1.0, np.zeros(2)), 80, 80, 1.0, np.array([12.0, 0]))
    soft = lambda a: int(((a > 0.05) & (a < 0.95)).sum())  # noqa: E731
    assert soft(moving) > 3 * soft(still)  # blurred along the motion
    assert np.array_equal(sharp, sharp_moving)  # the annotation is the object itself, not its blur
    assert abs(moving.sum() - still.sum()) < 0.02 * still.sum()  # blur moves mass, it does not add any


def test_the_sprite_presets_are_untouched():
    for name in ("default", "tiny", "hard"):
        assert "shapes" not in SYNTH_PRESETS[name].to_dict()  # their synth.json as before
    assert SYNTH_PRESETS["tracks"].to_dict()["shapes"] == "tracks"


def test_clutter_fills_the_background_and_is_never_annotated(small):
    from scipy import ndimage

    bare = dataclasses.replace(small, clutter=0, noise=0.0, illumination=0.0, motion_blur=0.0)
    busy = dataclasses.replace(bare, clutter=20)
    changed, over = [], []
    for index in range(3):
        _, frames0, masks0, _ = render_video(bare, "train", index)
        _, frames1, masks1, _ = render_video(busy, "train", index)
        for f0, f1, m0, m1 in zip(frames0, frames1, masks0, masks1):
            assert np.array_equal(m0, m1)  # the same targets: clutter is background
            diff = np.abs(f0.astype(int) - f1.astype(int)).max(axis=2) > 30
            background = m0 == 0
            changed.append(diff[background].mean())
            over.append(diff[ndimage.binary_erosion(~background, iterations=2)])  # soft edges aside
    assert np.mean(changed) > 0.05  # still objects cover a visible share of the background
    assert np.concatenate(over).mean() < 0.02  # and lie behind the targets
