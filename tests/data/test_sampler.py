"""The training sampler: ordered frames within max skip, objects, consistent augmentation, workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from erfkit.data.augment import AugmentConfig, augment_clip
from erfkit.data.sampler import ClipDataset, EpochBatchSampler, collate_clips, sample_frame_indices


def test_frame_indices_are_ordered_and_within_max_skip(rng):
    for max_skip in (1, 2, 5, 30):
        for length in (3, 4, 10, 50):
            for _ in range(200):
                idx = sample_frame_indices(rng, length, 3, max_skip)
                assert idx == sorted(set(idx)) and 0 <= idx[0] and idx[-1] < length
                assert all(0 < b - a <= max_skip for a, b in zip(idx, idx[1:]))


def test_first_frame_is_uniform(rng):
    firsts = [sample_frame_indices(rng, 20, 3, 2)[0] for _ in range(4000)]
    counts = np.bincount(firsts, minlength=19)
    assert counts[:18].min() > 120  # every possible start is drawn


def test_items_respect_the_curriculum(tiny_synth):
    ds = ClipDataset(tiny_synth, "train", max_skip=1, size=(64, 96), augment=None)
    for i in range(len(ds)):
        idx = ds[i]["indices"]
        assert all(b - a == 1 for a, b in zip(idx, idx[1:]))
    assert ds.increase_max_skip(2, cap=4) == 3 and ds.increase_max_skip(2, cap=4) == 4
    for i in range(len(ds)):
        idx = ds[i]["indices"]
        assert all(0 < b - a <= 4 for a, b in zip(idx, idx[1:]))


def test_items_hold_objects_of_the_first_frame(tiny_synth):
    ds = ClipDataset(tiny_synth, "train", size=(64, 96), max_objects=2, augment=AugmentConfig())
    for i in range(len(ds)):
        it = ds[i]
        assert it["frames"].shape == (3, 3, 64, 96)
        assert 1 <= it["num_objects"] <= 2
        assert set(torch.unique(it["labels"][0]).tolist()) == set(range(it["num_objects"] + 1))
        assert it["frames"].min() >= 0 and it["frames"].max() <= 1


def test_items_are_deterministic_and_depend_on_epoch(tiny_synth):
    ds = ClipDataset(tiny_synth, "train", size=(48, 80), augment=AugmentConfig(), seed=3)
    a, b = ds[1], ds[1]
    assert torch.equal(a["frames"], b["frames"]) and a["indices"] == b["indices"]
    ds.set_epoch(1)
    c = ds[1]
    assert not torch.equal(a["frames"], c["frames"])


def test_augmentation_is_the_same_for_every_frame_of_a_clip(rng):
    """A clip of identical frames stays identical: one transform for the whole clip."""
    frame = torch.rand(1, 3, 40, 60).expand(3, 3, 40, 60).contiguous()
    labels = torch.zeros(3, 40, 60, dtype=torch.long)
    labels[:, 10:25, 15:40] = 1
    cfg = AugmentConfig(noise=0.0)
    out, lab = augment_clip(rng, frame, labels, cfg, (40, 60))
    assert torch.allclose(out[0], out[1]) and torch.allclose(out[1], out[2])
    assert torch.equal(lab[0], lab[2])
    assert not torch.allclose(out[0], frame[0])


def test_static_clips_repeat_one_frame_each_copy_warped_on_its_own(tiny_synth):
    static = ClipDataset(tiny_synth, "train", size=(48, 80), augment=AugmentConfig(), seed=3, static=1.0)
    for i in range(len(static)):
        it = static[i]
        assert len(set(it["indices"])) == 1  # one frame
        assert set(torch.unique(it["labels"][0]).tolist()) == set(range(it["num_objects"] + 1))
        # each copy has its own warp: frames and masks differ between copies
        assert not torch.allclose(it["frames"][0], it["frames"][1], atol=0.05)
        assert not torch.equal(it["labels"][0], it["labels"][1])
    # half static: some clips of each kind
    half = ClipDataset(tiny_synth, "train", size=(48, 80), augment=AugmentConfig(), seed=3, static=0.5)
    half.length = 40
    kinds = [len(set(half[i]["indices"])) == 1 for i in range(40)]
    assert 5 < sum(kinds) < 35
    with pytest.raises(Exception, match="static"):
        ClipDataset(tiny_synth, "train", static=1.5)


def test_dataloader_workers_give_the_same_batches(tiny_synth):
    ds = ClipDataset(tiny_synth, "train", size=(48, 80), augment=AugmentConfig(), seed=1)
    sampler = EpochBatchSampler(len(ds), 2, seed=1, epoch=0)
    one = list(torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate_clips, num_workers=0))
    two = list(torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate_clips, num_workers=2))
    assert len(one) == len(two) == len(ds) // 2
    for a, b in zip(one, two):
        assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["masks"], b["masks"])
        assert a["masks"].shape[2] == a["valid"].shape[1] + 1


def test_batch_sampler_splits_global_batches_across_processes():
    full = list(EpochBatchSampler(12, 4, seed=0, epoch=2))
    r0 = list(EpochBatchSampler(12, 4, seed=0, epoch=2, rank=0, world_size=2))
    r1 = list(EpochBatchSampler(12, 4, seed=0, epoch=2, rank=1, world_size=2))
    assert [a + b for a, b in zip(r0, r1)] == full
    assert list(EpochBatchSampler(12, 4, seed=0, epoch=2, start_batch=1)) == full[1:]
    with pytest.raises(Exception, match="not divisible"):
        EpochBatchSampler(12, 3, seed=0, epoch=0, world_size=2)


def test_a_clip_finds_the_one_frame_that_shows_an_object(tiny_synth, tmp_path):
    import shutil

    from PIL import Image

    root = tmp_path / "sparse"
    shutil.copytree(tiny_synth, root)
    emptied = 0
    for name in (root / "ImageSets" / "2017" / "train.txt").read_text().split():
        (folder,) = (root / "Annotations").glob(f"*/{name}")
        for png in sorted(folder.glob("*.png")):
            if png.stem != "00005":  # every annotation emptied but frame 5's
                im = Image.open(png)
                empty = Image.fromarray(np.zeros_like(np.asarray(im)), mode=im.mode)
                if im.mode == "P":
                    empty.putpalette(im.getpalette())
                empty.save(png)
                emptied += 1
    assert emptied >= 20
    static = ClipDataset(root, "train", size=(48, 80), augment=AugmentConfig(), seed=0, static=1.0)
    moving = ClipDataset(root, "train", size=(48, 80), augment=AugmentConfig(), seed=0, max_skip=2)
    static.length = moving.length = 12
    for tries in (ClipDataset.random_tries, 0):  # 0: straight to the frame-by-frame search
        static.random_tries = moving.random_tries = tries
        for i in range(12):
            assert set(static[i]["indices"]) == {5}
            assert moving[i]["indices"][0] == 5
