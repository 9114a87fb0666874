"""Cycle-ERF: definition, batching, gradients, sanity."""

from __future__ import annotations

import pytest
import torch

from erfkit.explain.cycle import CycleERFConfig, cycle_erf, cycle_erf_loop
from erfkit.explain.metrics import randomized_model, sanity_similarity
from erfkit.model import build_model
from erfkit.model.loss import segmentation_loss


def _problem(dtype=torch.float32, L=3, K=2, H=32, W=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    refs = torch.rand(L, 3, H, W, generator=g, dtype=dtype)
    target = torch.rand(1, 3, H, W, generator=g, dtype=dtype)
    mask = torch.zeros(1, K + 1, H, W, dtype=dtype)
    mask[0, 1, 4:14, 6:20] = 1
    if K > 1:
        mask[0, 2, 18:28, 24:40] = 1
    mask[0, 0] = 1 - mask[0, 1:].sum(0)
    return refs, target, mask


@pytest.fixture(scope="module")
def model64():
    return build_model("stm-tiny", seed=3).double()


def test_zero_steps_give_a_zero_map(tiny_model):
    refs, target, mask = _problem()
    r = cycle_erf(tiny_model, refs, target, mask, CycleERFConfig(steps=0))
    assert r.maps.shape == (3, 2, 32, 48)
    assert torch.count_nonzero(r.maps) == 0
    assert r.losses.shape == (3, 1)


def test_maps_are_non_negative_and_one_per_object(tiny_model):
    refs, target, mask = _problem()
    r = cycle_erf(tiny_model, refs, target, mask, CycleERFConfig(steps=4))
    assert r.maps.shape == (3, 2, 32, 48)
    assert (r.maps >= 0).all() and torch.isfinite(r.maps).all()
    assert r.maps.sum() > 0
    assert torch.equal(r.maps, r.masks.clamp_min(0))  # ReLU of the final reference mask
    assert r.losses.shape == (3, 5)


def test_batched_equals_the_per_frame_loop(model64):
    refs, target, mask = _problem(torch.float64, L=5)
    cfg = CycleERFConfig(steps=20, batch_size=2)
    fast = cycle_erf(model64, refs, target, mask, cfg)
    loop = cycle_erf_loop(model64, refs, target, mask, cfg)
    assert torch.allclose(fast.maps, loop.maps, atol=1e-5, rtol=0)
    assert torch.allclose(fast.losses, loop.losses, atol=1e-8)
    assert fast.maps.abs().max() > 1e-3  # not trivially equal


def test_the_loss_goes_down(model64):
    refs, target, mask = _problem(torch.float64, L=2)
    r = cycle_erf(model64, refs, target, mask, CycleERFConfig(steps=8, rate=50.0))
    assert (r.losses[:, -1] < r.losses[:, 0]).all()


def test_gradient_matches_finite_differences(model64):
    """The update direction is dL/dY_l: compare autograd with central differences at a few pixels.

    Taken at a mask inside (0, 1): at exactly 0 the memory encoder's third input
    clamp(1 - m, 0, 1) sits on its bound, where only one-sided derivatives exist
    (autograd takes the one from inside, the direction cycle-ERF moves in).
    """
    refs, target, mask = _problem(torch.float64, L=1, H=32, W=32)
    g = torch.Generator().manual_seed(7)
    y = (0.2 + 0.6 * torch.rand(1, 3, 32, 32, generator=g, dtype=torch.float64)).requires_grad_(True)

    def loss(yy):
        return segmentation_loss(model64.segment(target, model64.memorize(refs, yy)), mask)

    (grad,) = torch.autograd.grad(loss(y), y)
    eps = 1e-6
    for c, i, j in [(1, 8, 10), (1, 20, 20), (2, 5, 30), (2, 25, 3)]:
        e = torch.zeros_like(y)
        e[0, c, i, j] = eps
        with torch.no_grad():
            fd = (loss(y + e) - loss(y - e)) / (2 * eps)
        assert grad[0, c, i, j].item() == pytest.approx(fd.item(), rel=1e-4, abs=1e-10)
    assert torch.count_nonzero(grad[0, 0]) == 0  # the background channel is not an input of memorize


def test_randomised_weights_give_a_different_map(tiny_model):
    refs, target, mask = _problem(L=1)
    cfg = CycleERFConfig(steps=5)
    a = cycle_erf(tiny_model, refs, target, mask, cfg).maps[0, 0]
    b = cycle_erf(randomized_model(tiny_model, seed=1), refs, target, mask, cfg).maps[0, 0]
    assert not torch.allclose(a, b)
    assert sanity_similarity(a, b) < 0.9


def test_bad_shapes_and_settings(tiny_model):
    refs, target, mask = _problem()
    with pytest.raises(ValueError):
        cycle_erf(tiny_model, refs[:, :2], target, mask)
    with pytest.raises(ValueError):
        cycle_erf(tiny_model, refs, target[:, :, :10], mask)
    with pytest.raises(Exception):
        CycleERFConfig(steps=-1)
