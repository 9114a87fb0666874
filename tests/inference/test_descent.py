"""The descent on a mask shared by gradient correction and cycle-ERF."""

from __future__ import annotations

import torch
from torch import nn

from erfkit.inference.descent import mask_descent, mask_descent_naive
from erfkit.tensors import frozen


def _problem(B=3):
    g = torch.Generator().manual_seed(0)
    net = nn.Conv2d(3, 1, 3, padding=1).double()
    y0 = torch.rand(B, 3, 8, 10, generator=g, dtype=torch.float64)
    target = torch.rand(B, 1, 8, 10, generator=g, dtype=torch.float64)

    def per_element(y: torch.Tensor) -> torch.Tensor:
        return (net(y) - target[:y.shape[0]]).pow(2).flatten(1).mean(1)

    return net, y0, per_element


def _by_hand(y0, loss_fn, steps, rate):
    y, losses = y0.clone(), []
    for _ in range(steps):
        y.requires_grad_(True)
        loss = loss_fn(y)
        (grad,) = torch.autograd.grad(loss.sum(), y)
        losses.append(loss.detach())
        y = (y - rate * torch.nan_to_num(grad)).detach()
    return y, torch.stack(losses)


def test_descent_equals_the_hand_written_loop():
    net, y0, loss_fn = _problem()
    with frozen(net):
        y, losses = mask_descent(y0, loss_fn, 5, 0.7)
        y_ref, losses_ref = _by_hand(y0, loss_fn, 5, 0.7)
    assert torch.equal(y, y_ref) and torch.equal(losses, losses_ref)
    assert losses.shape == (5, 3) and not y.requires_grad and not losses.requires_grad
    assert all(p.grad is None for p in net.parameters())
    assert not torch.equal(y, y0) and (losses[-1] < losses[0]).all()


def test_scalar_loss_gives_one_loss_per_step_and_batch_elements_are_independent():
    net, y0, loss_fn = _problem()
    with frozen(net):
        y, losses = mask_descent(y0, lambda y: loss_fn(y).sum(), 4, 0.5)
        y1, _ = mask_descent(y0[:1], loss_fn, 4, 0.5)
    assert losses.shape == (4,)
    assert torch.allclose(y[:1], y1, atol=1e-12, rtol=0)


def test_zero_steps_and_nan_gradients():
    net, y0, loss_fn = _problem()
    y, losses = mask_descent(y0, loss_fn, 0, 1.0)
    assert torch.equal(y, y0) and y is not y0 and losses.shape == (0,)
    # a NaN gradient is a zero step
    y, _ = mask_descent(y0, lambda y: (y.sqrt() * torch.where(y > 0.5, torch.nan, 1.0)).sum(), 1, 1.0)
    assert torch.isfinite(y).all() and torch.equal(y[y0 > 0.5], y0[y0 > 0.5])


def test_naive_descent_matches_and_leaves_no_weight_gradients():
    net, y0, loss_fn = _problem()
    y_naive, losses_naive = mask_descent_naive(net, y0, loss_fn, 5, 0.7)
    with frozen(net):
        y, losses = mask_descent(y0, loss_fn, 5, 0.7)
    assert torch.allclose(y_naive, y, atol=1e-12, rtol=0) and torch.allclose(losses_naive, losses, atol=1e-12)
    assert all(p.grad is None for p in net.parameters())
    # by hand: backward through the weights, y.grad, no nan_to_num
    y_ref = y0.clone()
    for _ in range(5):
        y_ref.requires_grad_(True)
        net.zero_grad(set_to_none=True)
        loss_fn(y_ref).sum().backward()
        y_ref = (y_ref - 0.7 * y_ref.grad).detach()
    net.zero_grad(set_to_none=True)
    assert torch.equal(y_naive, y_ref)
