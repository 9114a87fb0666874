"""Gradient descent on a mask: the step shared by gradient correction and cycle-ERF.

Both refine a mask ``y`` (probabilities or a reference mask, ``[B, K+1, H, W]``)
by ``N`` plain gradient steps on a loss, the network's weights held fixed::

    y <- y - rate * nan_to_num(dL/dy)

recording the loss before each step.  :func:`mask_descent` takes the gradient
with respect to the mask only (the caller freezes the weights, e.g. with
:func:`~erfkit.tensors.frozen`, so no weight gradient is computed);
:func:`mask_descent_naive` is the straightforward version that backpropagates
through the weights too and reads ``y.grad`` (no ``nan_to_num``), kept for
tests and benchmarks.

::

    y, losses = mask_descent(y0, lambda y: loss_of(y), steps=10, rate=180.0)
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

__all__ = ["LossFn", "mask_descent", "mask_descent_naive"]

#: ``loss_fn(y) -> loss``: a scalar, or ``[B]`` (one loss per batch element; the gradient is that of their sum)
LossFn = Callable[[torch.Tensor], torch.Tensor]


def _total(loss: torch.Tensor) -> torch.Tensor:
    return loss if loss.ndim == 0 else loss.sum()


def _stack(losses: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    return torch.stack(losses) if losses else like.new_zeros((0,))


def mask_descent(y0: torch.Tensor, loss_fn: LossFn, steps: int, rate: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``steps`` gradient steps on the mask ``y``, the gradient taken with respect to ``y`` only.

    Elements of a batch are independent when ``loss_fn`` returns one loss per
    element (each is a function of its own ``y[b]`` only): the gradient of the
    sum is then each element's own gradient.

    Args:
        y0: ``[B, C, H, W]`` the starting mask (not changed).
        loss_fn: ``loss_fn(y)`` -> scalar or ``[B]``, differentiable in ``y``.
            Freeze the weights around the call (:func:`~erfkit.tensors.frozen`)
            so that no weight gradient is computed.
        steps: ``N``, the number of steps (0 returns a copy of ``y0``).
        rate: the step size.

    Returns:
        the final mask ``[B, C, H, W]`` (detached), and the losses before each
        step, detached and stacked: ``[N]`` (scalar losses) or ``[N, B]``
        (``[0]`` when ``steps == 0``).
    """
    y = y0.detach().clone()
    losses = []
    with torch.enable_grad():
        for _ in range(steps):
            y.requires_grad_(True)
            loss = loss_fn(y)
            (grad,) = torch.autograd.grad(_total(loss), y)
            losses.append(loss.detach())
            y = (y - rate * torch.nan_to_num(grad)).detach()
    return y, _stack(losses, y)


def mask_descent_naive(model: nn.Module, y0: torch.Tensor, loss_fn: LossFn, steps: int,
                       rate: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The straightforward :func:`mask_descent`: ``loss.backward()`` through the weights, then ``y - rate * y.grad``.

    The weights' gradients are cleared before each backward pass and at the
    end (``model.zero_grad(set_to_none=True)``), so ``model`` is left without
    gradients.  The gradient is not passed through ``nan_to_num``.

    Args:
        model: the network whose weight gradients are cleared.
        y0: ``[B, C, H, W]`` the starting mask (not changed).
        loss_fn: ``loss_fn(y)`` -> scalar or ``[B]``.
        steps: ``N``.
        rate: the step size.

    Returns:
        as :func:`mask_descent`: the final mask and the ``[N]`` or ``[N, B]`` losses.
    """
    y = y0.detach().clone()
    losses = []
    with torch.enable_grad():
        for _ in range(steps):
            y.requires_grad_(True)
            loss = loss_fn(y)
            model.zero_grad(set_to_none=True)
            _total(loss).backward()
            losses.append(loss.detach())
            y = (y - rate * y.grad).detach()
        model.zero_grad(set_to_none=True)
    return y, _stack(losses, y)
