"""Gradient correction: cached equals straightforward, frozen weights, semantics in the predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from erfkit.data import DavisDataset
from erfkit.errors import ConfigError
from erfkit.inference import GCConfig, VideoPredictor, gradient_correction
from erfkit.inference.correction import Reference, gradient_correction_naive
from erfkit.tensors import frozen
from erfkit.tensors import frame_tensor, onehot


@pytest.fixture(scope="module")
def video(tiny_synth):
    ds = DavisDataset(tiny_synth, "val")
    return ds[ds.names[1]]


def _setup(model, video, dtype=torch.float32):
    x1 = frame_tensor(video.read_frame(0), torch.device("cpu"), dtype)
    xt = frame_tensor(video.read_frame(3), torch.device("cpu"), dtype)
    ids = sorted(video.object_frames)
    y1 = onehot(video.prompt(0), ids, torch.device("cpu")).to(dtype)
    with torch.no_grad():
        probs = model.segment(xt, model.memorize(x1, y1)).softmax(1)
        ref = Reference(model.encode_query(x1), y1, list(range(len(ids))))
    return x1, xt, probs, ref


@pytest.mark.parametrize("family", ["stm-tiny", "xmem-tiny"])
def test_cached_correction_equals_the_straightforward_one(family, video):
    """On any memory network (float64): the cached descent is the straightforward one, and it lowers the loss."""
    from erfkit.model import build_model

    model = build_model(family, seed=0).double()
    x1, xt, probs, ref = _setup(model, video, torch.float64)
    cfg = GCConfig(iters=3, rate=180.0)
    fast, losses = gradient_correction(model, xt, probs, [ref], cfg, return_losses=True)
    naive = gradient_correction_naive(model, xt, probs, [x1], [ref], cfg)
    assert not torch.equal(fast, probs)  # it did something
    assert torch.allclose(fast, naive, atol=1e-10, rtol=0)
    assert losses[-1] < losses[0]


def test_no_weight_gradients_are_computed(tiny_model, video):
    x1, xt, probs, ref = _setup(tiny_model, video)
    tiny_model.zero_grad(set_to_none=True)  # the model is shared: what an earlier test left is not this one's
    flags = [p.requires_grad for p in tiny_model.parameters()]
    seen = []
    hooks = [p.register_hook(lambda g: seen.append(1)) for p in tiny_model.parameters() if p.requires_grad]
    gradient_correction(tiny_model, xt, probs, [ref], GCConfig(iters=2))
    for h in hooks:
        h.remove()
    assert seen == []  # no parameter received a gradient
    assert all(p.grad is None for p in tiny_model.parameters())
    assert [p.requires_grad for p in tiny_model.parameters()] == flags  # restored
    with frozen(tiny_model):
        assert not any(p.requires_grad for p in tiny_model.parameters())


def test_frozen_blocks_overlapping_in_two_threads_restore_the_flags():
    """The dashboard's page and worker freeze one model at once: A enters, B enters, A leaves, B leaves."""
    import threading

    net = torch.nn.Linear(2, 2)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():
        with frozen(net):
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with frozen(net):
            b_in.set()
            a_out.wait(5)
            assert not any(p.requires_grad for p in net.parameters())  # still frozen while B is inside

    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert all(p.requires_grad for p in net.parameters())  # B recorded nothing frozen to restore


def test_correction_lowers_the_reconstruction_loss(tiny_model, video):
    _, xt, probs, ref = _setup(tiny_model, video)
    _, losses = gradient_correction(tiny_model, xt, probs, [ref], GCConfig(iters=6, rate=50.0), return_losses=True)
    assert losses.shape == (6,)
    assert losses[-1] < losses[0]


def test_only_every_kth_frame_is_corrected(tiny_model, video):
    p = VideoPredictor(tiny_model, gc=GCConfig(iters=2, every=3))
    changed = []
    for t in range(len(video)):
        out = p.step(video.read_frame(t), video.prompt(t))
        changed.append(not torch.equal(out, p.last_uncorrected))
    assert changed == [t > 0 and t % 3 == 0 for t in range(len(video))]


def test_save_flag_chooses_the_written_mask(tiny_model, video):
    corrected = VideoPredictor(tiny_model, gc=GCConfig(iters=3, every=2))
    uncorrected = VideoPredictor(tiny_model, gc=GCConfig(iters=3, every=2, save="uncorrected"))
    for t in range(3):
        a = corrected.step(video.read_frame(t), video.prompt(t))
        b = uncorrected.step(video.read_frame(t), video.prompt(t))
    # frame 2 is corrected: "corrected" returns it, "uncorrected" returns the raw prediction
    assert torch.equal(b, uncorrected.last_uncorrected)
    assert not torch.allclose(a, corrected.last_uncorrected)
    # both put the corrected mask into memory, so the next frames agree
    a3 = corrected.step(video.read_frame(3))
    b3 = uncorrected.step(video.read_frame(3))
    assert torch.allclose(a3, b3, atol=1e-6)


def test_late_objects_use_the_frame_where_they_appear(tiny_model, video):
    p = VideoPredictor(tiny_model, gc=GCConfig(iters=1, every=2))
    first = video.prompt(0)
    p.step(video.read_frame(0), np.where(first == 1, 1, 0).astype(np.uint8))
    late = np.zeros_like(first)
    late[2:10, 2:12] = 9
    p.step(video.read_frame(1), late)
    refs = p._s.references
    assert [ids for ids, _ in refs] == [[1], [9]]
    assert refs[1][1].slots == [1]
    assert refs[1][1].target.shape[1] == 2  # background + object 9
    for t in range(2, len(video)):
        assert torch.isfinite(p.step(video.read_frame(t))).all()


def test_config_is_validated():
    with pytest.raises(ConfigError):
        GCConfig(iters=-1)
    with pytest.raises(ConfigError):
        GCConfig(every=0)
    with pytest.raises(ConfigError):
        GCConfig(save="both")
    assert GCConfig(iters=10).applies_to(5) and not GCConfig(iters=10).applies_to(0)
    assert not GCConfig(iters=0).applies_to(5)
