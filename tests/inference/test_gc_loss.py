"""Gradient correction uses the authors' test-time criterion by default (bootstrapped CE + mask IoU)."""

from __future__ import annotations

import pytest
import torch

from erfkit.data import DavisDataset
from erfkit.errors import ConfigError
from erfkit.inference import GCConfig, gradient_correction
from erfkit.inference.correction import Reference, gradient_correction_naive
from erfkit.tensors import frame_tensor, onehot
from erfkit.model import build_model

from ..model.authors_loss import authors_loss

F64 = torch.float64
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model64():
    return build_model("stm-tiny", seed=0).double()


@pytest.fixture(scope="module")
def problem(tiny_synth, model64):
    ds = DavisDataset(tiny_synth, "val")
    video = ds[ds.names[1]]
    x1 = frame_tensor(video.read_frame(0), CPU, F64)
    xt = frame_tensor(video.read_frame(3), CPU, F64)
    ids = sorted(video.object_frames)
    y1 = onehot(video.prompt(0), ids, CPU, F64)
    with torch.no_grad():
        probs = model64.segment(xt, model64.memorize(x1, y1)).softmax(1)
        ref = Reference(model64.encode_query(x1), y1, list(range(len(ids))))
    return x1, xt, probs, y1, ref


def _authors_gc(model, x_t, probs, x_1, y_1, iters, alpha=180.0, bootstrap=0.4):
    """The authors' update ``y <- y - alpha * dL/dy`` with their loss, written out."""
    n = y_1.shape[1] - 1
    y = probs.detach().clone()
    for _ in range(iters):
        y.requires_grad_(True)
        pred = model.segment(x_1, model.memorize(x_t, y)).softmax(1)
        loss = authors_loss(pred, y_1, n, bootstrap)
        (grad,) = torch.autograd.grad(loss, y)
        y = (y - alpha * grad).detach()
    return y


def test_default_is_the_authors_bootstrap():
    assert GCConfig().bootstrap == 0.4
    assert GCConfig(bootstrap=1.0).bootstrap == 1.0
    for bad in (0.0, -0.1, 1.01):
        with pytest.raises(ConfigError):
            GCConfig(bootstrap=bad)


def test_default_gc_is_the_authors_update_with_their_loss(model64, problem):
    x1, xt, probs, y1, ref = problem
    cfg = GCConfig(iters=3)  # every other setting at its default
    expected = _authors_gc(model64, xt, probs, x1, y1, 3)
    fast = gradient_correction(model64, xt, probs, [ref], cfg)
    naive = gradient_correction_naive(model64, xt, probs, [x1], [ref], cfg)
    assert torch.allclose(fast, expected, atol=1e-9, rtol=0)
    assert torch.allclose(naive, expected, atol=1e-9, rtol=0)
    plain = gradient_correction(model64, xt, probs, [ref], GCConfig(iters=3, bootstrap=1.0))
    assert (plain - expected).abs().max() > 1e-4  # the bootstrap matters


def test_bootstrap_one_is_the_plain_mean(model64, problem):
    x1, xt, probs, y1, ref = problem
    plain = gradient_correction(model64, xt, probs, [ref], GCConfig(iters=2, bootstrap=1.0))
    assert torch.allclose(plain, _authors_gc(model64, xt, probs, x1, y1, 2, bootstrap=1.0), atol=1e-9, rtol=0)
