"""Cycle-ERF (paper Sec. 3.4, Eq. 6): which regions of a reference frame the network needs.

Definition (this is the reference implementation; no other public one exists).
For a target frame ``t`` with mask ``Y_t`` and a reference frame ``l``:

1. start from an EMPTY reference mask: ``Y_l^0 = 0`` (every object channel);
2. for ``m = 0 .. M-1``: memorise ``(X_l, Y_l^m)`` alone, segment frame ``t``
   from that memory, take the loss against ``Y_t`` (cross-entropy +
   ``gamma`` * (1 - soft IoU), paper Eq. 4, with the cross-entropy averaged
   over the hardest ``bootstrap`` fraction of pixels), and update
   ``Y_l^{m+1} = Y_l^m - alpha * dL/dY_l^m`` (the gradient-correction step);
3. the map is ``ReLU(Y_l^M)``, one per object, on frame ``l``.

Defaults: ``M = 50`` (paper), ``alpha = 180`` (the rate of the authors'
gradient correction; the loss is a mean over pixels, so gradients are small),
``gamma = 1``, ``bootstrap = 0.4`` (the authors' test-time criterion, the loss
``alpha = 180`` was tuned for, as in :class:`~erfkit.inference.GCConfig`;
1 gives the plain pixel mean).  In the paper's figure ``t`` is the first frame (its given
mask is the target) and ``l`` an intermediate frame.  Only the mask receives
gradients; the weights are frozen.

Many reference frames are explained at once: each frame ``l`` is an element
of a batch, the target frame's query features are computed once and shared,
and each reference frame's memory stem once for all ``M`` steps.  The
steps are :func:`~erfkit.inference.descent.mask_descent`, the descent of
gradient correction.  :func:`cycle_erf_loop` is the straightforward per-frame
version.  :class:`CycleERF` is the :class:`~erfkit.explain.base.Explainer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError
from ..inference.descent import LossFn, mask_descent, mask_descent_naive
from ..model.loss import segmentation_loss
from ..model.memory_model import MemoryModel, QueryState
from ..tensors import frozen
from .base import Explainer, ExplainerInputs, Progress
from .keys import CYCLE, MapKey

__all__ = ["CycleERFConfig", "CycleERFResult", "CycleERF", "cycle_erf", "cycle_erf_loop"]


@dataclass(frozen=True)
class CycleERFConfig:
    """Cycle-ERF settings.

    Attributes:
        steps: ``M``, gradient steps from the empty mask (paper: 50; 0 gives a zero map).
        rate: ``alpha``, the step size (180, as gradient correction).
        gamma: weight of the IoU term of the loss.
        batch_size: reference frames per batch (memory and CPU-cache bound).
        bootstrap: fraction in ``(0, 1]`` of the hardest pixels the
            cross-entropy averages; 0.4 (default) is the authors' test-time
            criterion, as gradient correction; 1 gives the plain pixel mean.
    """

    steps: int = 50
    rate: float = 180.0
    gamma: float = 1.0
    batch_size: int = 4
    bootstrap: float = 0.4

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ConfigError("cycle-ERF steps must be >= 0")
        if not self.rate > 0:
            raise ConfigError("cycle-ERF rate must be > 0")
        if self.batch_size < 1:
            raise ConfigError("cycle-ERF batch size must be >= 1")
        if not 0 < self.bootstrap <= 1:
            raise ConfigError("cycle-ERF bootstrap must lie in (0, 1]")


@dataclass
class CycleERFResult:
    """Cycle-ERF maps of several reference frames for one target.

    Attributes:
        maps: ``[L, K, H, W]`` non-negative, one per reference frame and object.
        losses: ``[L, M+1]``: the loss before each step and after the last one.
        masks: ``[L, K, H, W]`` the final reference masks ``Y_l^M`` before the ReLU.
    """

    maps: torch.Tensor
    losses: torch.Tensor
    masks: torch.Tensor


def _check(reference_frames: torch.Tensor, target_frame: torch.Tensor, target_mask: torch.Tensor) -> None:
    if reference_frames.ndim != 4 or reference_frames.shape[1] != 3:
        raise ValueError(f"reference frames are [L, 3, H, W], got {tuple(reference_frames.shape)}")
    if target_frame.shape[0] != 1 or target_frame.shape[1:] != reference_frames.shape[1:]:
        raise ValueError(f"target frame must be [1, 3, H, W] like the references, got {tuple(target_frame.shape)}")
    if target_mask.shape[0] != 1 or target_mask.shape[-2:] != reference_frames.shape[-2:]:
        raise ValueError(f"target mask must be [1, K+1, H, W], got {tuple(target_mask.shape)}")


def _batch_loss(model: MemoryModel, query: QueryState, frames: torch.Tensor, stem: Any, target: torch.Tensor,
                cfg: CycleERFConfig) -> LossFn:
    """``y [B, K+1, H, W] -> [B]``: each frame's loss of segmenting the target from its memory alone."""

    def loss_fn(y: torch.Tensor) -> torch.Tensor:
        memory = model.memorize(frames, y, stem=stem)
        logits = model.segment(query, memory)
        return segmentation_loss(logits, target.expand(frames.shape[0], *target.shape[1:]), cfg.gamma,
                                 bootstrap=cfg.bootstrap, reduction="none")

    return loss_fn


def _frame_loss(model: MemoryModel, x: torch.Tensor, target_frame: torch.Tensor, target_mask: torch.Tensor,
                cfg: CycleERFConfig) -> LossFn:
    """``y [1, K+1, H, W] -> scalar``, re-encoding both frames (:func:`cycle_erf_loop`)."""

    def loss_fn(y: torch.Tensor) -> torch.Tensor:
        return segmentation_loss(model.segment(target_frame, model.memorize(x, y)), target_mask, cfg.gamma,
                                 bootstrap=cfg.bootstrap)

    return loss_fn


def cycle_erf(model: MemoryModel, reference_frames: torch.Tensor, target_frame: torch.Tensor, target_mask: torch.Tensor,
              config: CycleERFConfig | None = None, *, progress=None) -> CycleERFResult:
    """Cycle-ERF of every reference frame for one target frame.

    Args:
        model: the network, any :class:`~erfkit.model.memory_model.MemoryModel` (not changed; no weight gradients are computed).
        reference_frames: ``[L, 3, H, W]`` RGB in [0, 1].
        target_frame: ``[1, 3, H, W]``.
        target_mask: ``[1, K+1, H, W]`` one-hot ``Y_t`` (channel 0 the background).
        config: steps, rate, gamma, batch size, bootstrap.
        progress: optional callable ``progress(done, total)`` after each batch.

    Returns:
        :class:`CycleERFResult` with ``maps [L, K, H, W]`` and ``losses [L, M+1]``.
    """
    cfg = config or CycleERFConfig()
    _check(reference_frames, target_frame, target_mask)
    L = reference_frames.shape[0]
    K = target_mask.shape[1] - 1
    finals, curves = [], []
    with frozen(model), torch.enable_grad():
        with torch.no_grad():
            query = model.encode_query(target_frame)
        for start in range(0, L, cfg.batch_size):
            frames = reference_frames[start:start + cfg.batch_size]
            with torch.no_grad():
                stem = model.memory_stem(frames)
            loss_fn = _batch_loss(model, query, frames, stem, target_mask, cfg)
            y0 = frames.new_zeros((frames.shape[0], K + 1, *frames.shape[-2:]))
            # frames are independent: the gradient of the sum is each one's own
            y, losses = mask_descent(y0, loss_fn, cfg.steps, cfg.rate)  # losses [M, B]
            with torch.no_grad():
                last = loss_fn(y)
            finals.append(y[:, 1:])
            curves.append(torch.stack([*losses.unbind(0), last], 1))
            if progress is not None:
                progress(min(start + cfg.batch_size, L), L)
    masks = torch.nan_to_num(torch.cat(finals), nan=0.0, posinf=0.0, neginf=0.0)
    return CycleERFResult(torch.relu(masks), torch.cat(curves), masks)


def cycle_erf_loop(model: MemoryModel, reference_frames: torch.Tensor, target_frame: torch.Tensor,
                   target_mask: torch.Tensor, config: CycleERFConfig | None = None) -> CycleERFResult:
    """The straightforward version: one reference frame at a time, re-encoding everything at every step.

    Same numbers as :func:`cycle_erf`; kept for tests and for the benchmark of what batching and caching save.
    """
    cfg = config or CycleERFConfig()
    _check(reference_frames, target_frame, target_mask)
    K = target_mask.shape[1] - 1
    finals, curves = [], []
    for frame in reference_frames:
        x = frame[None]
        loss_fn = _frame_loss(model, x, target_frame, target_mask, cfg)
        y, losses = mask_descent_naive(model, x.new_zeros((1, K + 1, *x.shape[-2:])), loss_fn, cfg.steps, cfg.rate)
        with torch.no_grad():
            last = loss_fn(y)
        finals.append(y[:, 1:])
        curves.append(torch.stack([*losses.unbind(0), last])[None])
    masks = torch.cat(finals)
    return CycleERFResult(torch.relu(masks), torch.cat(curves), masks)


class CycleERF(Explainer):
    """Cycle-ERF as an :class:`~erfkit.explain.base.Explainer`: :func:`cycle_erf` of the frames ``l``.

    Frame ``l``'s own mask is not used (the descent starts from the empty mask).
    The :class:`~erfkit.explain.base.Explanation` has key :data:`~erfkit.explain.keys.CYCLE`
    and extras ``losses [L, M+1]`` and ``masks [L, K, H, W]`` (see :class:`CycleERFResult`).

    Args:
        model: the network (any :class:`~erfkit.model.memory_model.MemoryModel`).
        config: steps, rate, gamma, batch size, bootstrap (default ``CycleERFConfig()``).
    """

    def __init__(self, model: MemoryModel, config: CycleERFConfig | None = None):
        super().__init__(model)
        self.config = config or CycleERFConfig()

    @property
    def key(self) -> MapKey:
        return CYCLE

    @property
    def settings(self) -> dict:
        c = self.config
        return {"steps": c.steps, "rate": c.rate, "gamma": c.gamma, "bootstrap": c.bootstrap}

    def _attribute(self, inputs: ExplainerInputs, progress: Progress | None):
        r = cycle_erf(self.model, inputs.frames, inputs.target_frame, inputs.target_mask, self.config,
                      progress=progress)
        return r.maps, {"losses": r.losses, "masks": r.masks}
