"""The streaming predictor: strategies, late objects, memory cap, no autograd, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from erfkit.data import DavisDataset
from erfkit.errors import ConfigError, DataError
from erfkit.inference import GCConfig, VideoPredictor, segment_sequence
from erfkit.inference.predictor import MEMORY_STRATEGIES


@pytest.fixture(scope="module")
def video(tiny_synth):
    ds = DavisDataset(tiny_synth, "val")
    return ds[ds.names[0]]


@pytest.mark.parametrize("strategy", MEMORY_STRATEGIES)
def test_each_strategy_segments_a_video(tiny_model, video, strategy, tmp_path):
    p = VideoPredictor(tiny_model, memory=strategy, mem_every=3)
    stats, labels = segment_sequence(p, video, tmp_path, keep=True)
    assert stats.frames == len(video) == len(labels)
    ids = set(video.object_frames)
    for lab in labels:
        assert lab.shape == video.size and set(np.unique(lab)) <= ids | {0}
    assert np.array_equal(labels[0], video.prompt(0))  # the given frame is the given mask
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{n}.png" for n in video.frame_names]
    expected = {"first": [0], "previous": [len(video) - 1], "first+previous": [0],
                "mem": [t for t in range(len(video)) if t % 3 == 0]}[strategy]
    assert p.memory_frames == expected


def test_probabilities_are_a_distribution_without_autograd(tiny_model, video):
    p = VideoPredictor(tiny_model)
    p.step(video.read_frame(0), video.prompt(0))
    probs = p.step(video.read_frame(1))
    assert probs.shape == (len(p.object_ids) + 1, *video.size)
    assert not probs.requires_grad and probs.grad_fn is None
    assert torch.allclose(probs.sum(0), torch.ones(video.size), atol=1e-5)


def test_objects_appearing_mid_video(tiny_model, video):
    """An object given at frame 3 is tracked from there on; earlier memory is hidden from it."""
    p = VideoPredictor(tiny_model, memory="mem", mem_every=2)
    first = video.prompt(0)
    only1 = np.where(first == 1, 1, 0).astype(np.uint8)
    p.step(video.read_frame(0), only1)
    for t in (1, 2):
        assert p.step(video.read_frame(t)).shape[0] == 2
    late = np.zeros_like(first)
    late[5:20, 10:40] = 7
    probs = p.step(video.read_frame(3), late)
    assert p.object_ids == [1, 7]
    assert probs.shape[0] == 3
    assert (p.labels(probs)[5:20, 10:40] == 7).all()  # the given object is the given mask
    for t in range(4, len(video)):
        probs = p.step(video.read_frame(t))
        assert probs.shape[0] == 3 and torch.isfinite(probs).all()


def test_memory_cap_keeps_the_first_frame(tiny_model, video):
    p = VideoPredictor(tiny_model, memory="mem", mem_every=1, max_memory_frames=3)
    for t in range(len(video)):
        p.step(video.read_frame(t), video.prompt(t))
        assert len(p.memory_frames) <= 3
    assert p.memory_frames[0] == 0
    assert p.memory_frames[1:] == [len(video) - 2, len(video) - 1]


def test_device_argument_and_reset(tiny_model, video):
    p = VideoPredictor(tiny_model, device="cpu")
    p.step(video.read_frame(0), video.prompt(0))
    assert p.frame_index == 1
    p.reset()
    assert p.frame_index == 0 and p.object_ids == []


def test_gc_iters_zero_is_exactly_offline(tiny_model, video):
    a = segment_sequence(VideoPredictor(tiny_model), video, None, keep=True)[1]
    b = segment_sequence(VideoPredictor(tiny_model, gc=GCConfig(iters=0)), video, None, keep=True)[1]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_bad_input(tiny_model, video):
    p = VideoPredictor(tiny_model)
    with pytest.raises(DataError, match="first frame needs a mask"):
        p.step(video.read_frame(0))
    with pytest.raises(DataError, match="mask is 10x10 but frame 0"):
        p.step(video.read_frame(0), np.ones((10, 10), np.uint8))
    p.step(video.read_frame(0), video.prompt(0))
    with pytest.raises(DataError, match="the video started at"):
        p.step(np.zeros((20, 20, 3), np.uint8))
    two = np.zeros(video.size, np.uint8)
    two[:5, :5], two[10:15, 10:15] = 1, 2
    with pytest.raises(DataError, match="2 objects, more than the 1 allowed"):
        VideoPredictor(tiny_model, max_objects=1).step(video.read_frame(0), two)
    big = np.zeros(video.size, np.int32)
    big[:4, :4] = 300
    with pytest.raises(DataError, match="object id 300 outside 1..254"):
        VideoPredictor(tiny_model).step(video.read_frame(0), big)
    with pytest.raises(ConfigError, match="unknown memory strategy"):
        VideoPredictor(tiny_model, memory="everything")


def test_class_index_is_argmax_with_its_tie_rule():
    """The fast index of the largest score equals torch's argmax, ties included (the first wins)."""
    from erfkit.tensors import class_index

    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 3, (3, 2, 40, 50), generator=g).float()  # many ties
    for dim in range(scores.ndim):
        assert torch.equal(class_index(scores, dim), scores.argmax(dim)), dim
