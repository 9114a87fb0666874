"""Training data as the authors sample it: YouTube-VOS clips, mixing with frequencies, letterboxed clips."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from erfkit.data import write_mask
from erfkit.data.letterbox import Letterbox
from erfkit.data.sampler import (UNLABELLED, ClipDataset, MixedClipDataset, collate_clips, data_layout)


def make_youtube_train(root: Path, videos: int = 2, frames: int = 6, size=(40, 60)) -> Path:
    """A YouTube-VOS-layout ``train`` split: ``videos`` videos, frame names 00000, 00005, ...

    Object 1 (a rectangle) is in every frame, object 2 from the third frame on;
    every frame is annotated (as in YouTube-VOS train).
    """
    h, w = size
    base = root / "train"
    meta: dict = {"videos": {}}
    for v in range(videos):
        vid = f"yt{v}"
        names = [f"{5 * i:05d}" for i in range(frames)]
        for i, n in enumerate(names):
            (base / "JPEGImages" / vid).mkdir(parents=True, exist_ok=True)
            img = np.full((h, w, 3), 30 + 20 * i + 7 * v, np.uint8)
            Image.fromarray(img).save(base / "JPEGImages" / vid / f"{n}.jpg")
            m = np.zeros((h, w), np.uint8)
            m[4 + i:h // 2 + i, 5:w // 3] = 1
            if i >= 2:
                m[h // 2:h - 4, w // 2 + i:w - 4] = 2
            write_mask(base / "Annotations" / vid / f"{n}.png", m)
        meta["videos"][vid] = {"objects": {"1": {"category": "cat", "frames": names},
                                           "2": {"category": "dog", "frames": names[2:]}}}
    (base / "meta.json").write_text(json.dumps(meta))
    return root


def test_youtube_layout_gives_training_clips(tmp_path, tiny_synth):
    yt = make_youtube_train(tmp_path / "yt")
    assert data_layout(yt) == "youtube" and data_layout(tiny_synth) == "davis"
    ds = ClipDataset(yt, "train", size=(40, 60), max_skip=2, augment=None)
    assert ds.layout == "youtube" and [v.name for v in ds.videos] == ["yt0", "yt1"]
    assert ds.frame_sizes() == {(40, 60)}
    for i in range(4):
        it = ds[i]
        assert it["frames"].shape == (3, 3, 40, 60) and it["num_objects"] >= 1
        assert all(0 < b - a <= 2 for a, b in zip(it["indices"], it["indices"][1:]))


def test_mixing_with_frequencies_repeats_each_list(tmp_path, tiny_synth):
    """--data DAVIS --data YouTube-VOS --data-freq 5,1: every DAVIS video 5 times per epoch, each YouTube video once."""
    yt = make_youtube_train(tmp_path / "yt")
    davis = ClipDataset(tiny_synth, "train", size=(48, 80), augment=None, max_skip=3)
    youtube = ClipDataset(yt, "train", size=(48, 80), augment=None, max_skip=1)
    mix = MixedClipDataset([davis, youtube], [5, 1], clips_per_video=1, seed=0)
    assert len(mix) == 5 * 4 + 1 * 2
    names = Counter(mix[i]["video"] for i in range(len(mix)))
    assert names == {**{v.name: 5 for v in davis.videos}, "yt0": 1, "yt1": 1}
    assert Counter(mix.locate(i)[0] for i in range(len(mix))) == {0: 20, 1: 2}
    # clips per video multiply every block
    assert len(MixedClipDataset([davis, youtube], [5, 1], clips_per_video=3)) == 3 * 22
    # each source has its own max skip
    mix.set_max_skips([3, 1])
    assert mix.max_skips == [3, 1]
    for i in range(20, 22):
        idx = mix[i]["indices"]
        assert all(b - a == 1 for a, b in zip(idx, idx[1:]))
    # one source of frequency 1 gives exactly the items of that dataset
    single = MixedClipDataset([davis], None, clips_per_video=1, seed=0)
    for i in range(len(single)):
        assert torch.equal(single[i]["frames"], davis[i]["frames"])


def test_letterbox_sampling_scales_frames_and_masks_onto_the_canvas(tmp_path):
    yt = make_youtube_train(tmp_path / "yt", videos=1, size=(40, 60))
    size = (60, 120)  # 40x60 -> 60x90 centred: a 15-pixel border left and right
    ds = ClipDataset(yt, "train", size=size, augment=None, max_objects=5, sampling="letterbox", seed=2)
    it = ds[0]
    assert it["frames"].shape == (3, 3, 60, 120) and it["labels"].shape == (3, 60, 120)
    box = Letterbox.fit((40, 60), size)
    assert (box.top, box.left, box.inner) == (0, 15, (60, 90))
    for j, f in enumerate(it["indices"]):
        raw = np.array(Image.open(yt / "train" / "Annotations" / "yt0" / f"{5 * f:05d}.png"))
        onehot = torch.nn.functional.one_hot(torch.from_numpy(raw).long(), 3).permute(2, 0, 1)[None].float()
        expected = box.mask(onehot)[0]  # [3, 60, 120], boundary and border pixels: no class
        lab = it["labels"][j]
        none = expected.amax(0) < 1
        assert none.any() and torch.equal(lab == UNLABELLED, none)
        assert torch.equal(lab == 0, expected[0] == 1)
        for obj in (1, 2):  # each object is one slot (the slot order is random)
            slots = torch.unique(lab[expected[obj] == 1])
            assert slots.numel() <= 1 and (slots.numel() == 0 or slots.item() > 0)
        # the frame is the letterboxed frame: black border
        assert it["frames"][j][:, :, :15].abs().max() == 0 and it["frames"][j][:, :, 105:].abs().max() == 0
        assert it["frames"][j][:, :, 15:105].min() > 0
    batch = collate_clips([it])
    masks = batch["masks"][0]  # [T, K+1, H, W]
    assert masks.shape == (3, it["num_objects"] + 1, 60, 120)
    assert torch.equal(masks.sum(1) == 0, it["labels"] == UNLABELLED)  # no class: an all-zero one-hot vector


def test_letterbox_sampling_with_augmentation_keeps_the_size(tiny_synth):
    ds = ClipDataset(tiny_synth, "train", size=(48, 96), sampling="letterbox", seed=1)
    for i in range(len(ds)):
        it = ds[i]
        assert it["frames"].shape == (3, 3, 48, 96) and it["labels"].shape == (3, 48, 96)
        assert it["num_objects"] >= 1 and (it["labels"] == UNLABELLED).any()
        assert set(torch.unique(it["labels"][0]).tolist()) <= set(range(-1, it["num_objects"] + 1))
    # crop sampling leaves every pixel labelled
    crop = ClipDataset(tiny_synth, "train", size=(48, 96), seed=1)
    assert all((crop[i]["labels"] >= 0).all() for i in range(len(crop)))


def test_letterbox_sampling_transposes_portrait_frames(tmp_path):
    """As the authors' ``Transpose``: a portrait video fills the landscape canvas."""
    land = make_youtube_train(tmp_path / "land", videos=1, size=(40, 60))
    port = tmp_path / "port"
    for p in sorted((land / "train").rglob("*")):
        q = port / p.relative_to(land)
        if p.is_dir():
            q.mkdir(parents=True, exist_ok=True)
        elif p.suffix == ".jpg":
            Image.fromarray(np.array(Image.open(p)).transpose(1, 0, 2).copy()).save(q)
        elif p.suffix == ".png":
            write_mask(q, np.array(Image.open(p)).T.copy())
        else:
            q.write_bytes(p.read_bytes())
    kw = dict(size=(60, 120), augment=None, max_objects=5, sampling="letterbox", seed=0)
    a, b = ClipDataset(land, "train", **kw)[0], ClipDataset(port, "train", **kw)[0]
    assert a["indices"] == b["indices"] and b["labels"].shape == (3, 60, 120)
    assert torch.equal(a["labels"] < 0, b["labels"] < 0) and torch.equal(a["labels"] == 0, b["labels"] == 0)
