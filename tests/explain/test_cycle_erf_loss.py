"""Cycle-ERF takes the loss setting of gradient correction: the authors' bootstrapped criterion by default."""

from __future__ import annotations

import pytest
import torch

from erfkit.errors import ConfigError
from erfkit.explain.cycle import CycleERFConfig, cycle_erf, cycle_erf_loop
from erfkit.inference import GCConfig
from erfkit.model import build_model
from erfkit.model.loss import segmentation_loss

from ..model.authors_loss import authors_loss
from .test_cycle_erf import _problem


@pytest.fixture(scope="module")
def model64():
    return build_model("stm-tiny", seed=3).double()


def _by_hand(model, refs, target, mask, steps, rate, loss_fn):
    """Per reference frame: ``y <- y - rate * dL/dy`` from the empty mask; the final masks ``[L, K, H, W]``."""
    out = []
    for x in refs:
        y = torch.zeros(1, mask.shape[1], *x.shape[-2:], dtype=x.dtype)
        for _ in range(steps):
            y.requires_grad_(True)
            (grad,) = torch.autograd.grad(loss_fn(model.segment(target, model.memorize(x[None], y)), mask), y)
            y = (y - rate * grad).detach()
        out.append(y[:, 1:])
    return torch.cat(out)


def test_default_bootstrap_is_that_of_gradient_correction():
    assert CycleERFConfig().bootstrap == 0.4 == GCConfig().bootstrap
    for bad in (0.0, 2.0):
        with pytest.raises(ConfigError):
            CycleERFConfig(bootstrap=bad)


def test_bootstrap_one_is_the_old_plain_mean(model64):
    refs, target, mask = _problem(torch.float64, L=2)
    cfg = CycleERFConfig(steps=6, bootstrap=1.0, batch_size=2)
    old = _by_hand(model64, refs, target, mask, 6, 180.0, lambda logits, m: segmentation_loss(logits, m))
    fast = cycle_erf(model64, refs, target, mask, cfg)
    loop = cycle_erf_loop(model64, refs, target, mask, cfg)
    assert torch.allclose(fast.masks, old, atol=1e-8, rtol=0)
    assert torch.allclose(loop.masks, old, atol=1e-8, rtol=0)
    assert old.abs().max() > 1e-3


def test_default_is_the_authors_loss_and_differs_from_the_plain_mean(model64):
    refs, target, mask = _problem(torch.float64, L=2)
    K = mask.shape[1] - 1
    authors = _by_hand(model64, refs, target, mask, 6, 180.0,
                       lambda logits, m: authors_loss(logits.softmax(1), m, K, 0.4))
    default = cycle_erf(model64, refs, target, mask, CycleERFConfig(steps=6, batch_size=2))
    loop = cycle_erf_loop(model64, refs, target, mask, CycleERFConfig(steps=6))
    plain = cycle_erf(model64, refs, target, mask, CycleERFConfig(steps=6, bootstrap=1.0, batch_size=2))
    assert torch.allclose(default.masks, authors, atol=1e-8, rtol=0)
    assert torch.allclose(loop.masks, authors, atol=1e-8, rtol=0)
    assert (default.maps - plain.maps).abs().max() > 1e-3
