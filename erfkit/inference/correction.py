"""Gradient correction (paper Sec. 3.3, Eq. 5).

At a frame ``t`` that becomes memory, the predicted probabilities ``Y_t`` are
refined by ``N`` gradient steps that make the memory of frame ``t`` alone
rebuild the reference mask (frame 1, or the frame where each object was given)::

    Y_t <- Y_t - alpha * dL(S({X_t}, {Y_t}, X_ref), Y_ref) / dY_t

``L`` is, by default, the authors' test-time criterion: the bootstrapped
cross-entropy (mean of the hardest 40% of pixels) + the mask-IoU loss
(:func:`~erfkit.model.loss.segmentation_loss` with ``bootstrap=0.4``);
``alpha = 180`` was tuned for that loss.

The steps are :func:`~erfkit.inference.descent.mask_descent` (shared with
cycle-ERF).  Only ``Y_t`` receives gradients: the weights are frozen (no
weight gradient is computed) and the reference frame's query features (keys,
values and the decoder's skip branches) are computed once per video, not at
each step.  One step therefore costs one forward and backward pass of
``memorize`` plus the mask-dependent half of ``segment``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import ConfigError
from ..model.loss import segmentation_loss
from ..model.memory_model import MemoryModel, QueryState
from ..tensors import frozen
from .descent import mask_descent, mask_descent_naive

__all__ = ["GCConfig", "Reference", "gradient_correction", "gradient_correction_naive"]


@dataclass(frozen=True)
class GCConfig:
    """Gradient-correction settings.

    Attributes:
        iters: ``N``, gradient steps per corrected frame (0 disables GC; the paper: 10).
        rate: ``alpha``, the step size on probabilities.  The loss is a mean
            over pixels, so gradients are tiny; the authors' code uses 180,
            tuned for their bootstrapped loss (``bootstrap=0.4``) at 240x427,
            and the paper finds results insensitive to it (Fig. 4).
        every: ``K``, correct every K-th frame (the frames that become memory; the paper: 5).
        gamma: weight of the IoU term of the loss.
        save: which mask is written out: ``"corrected"`` (default; the paper
            takes ``Y_t^N`` as the final segmentation) or ``"uncorrected"``
            (what the authors' test script saved).  The corrected mask is
            always the one put into memory.
        bootstrap: fraction in ``(0, 1]`` of the hardest pixels the
            cross-entropy averages.  Default 0.4: the authors' test-time
            criterion (bootstrapped cross-entropy + mask IoU), the loss
            ``alpha = 180`` was tuned for; 1 gives the plain pixel mean.
    """

    iters: int = 0
    rate: float = 180.0
    every: int = 5
    gamma: float = 1.0
    save: Literal["corrected", "uncorrected"] = "corrected"
    bootstrap: float = 0.4

    def __post_init__(self) -> None:
        if self.iters < 0:
            raise ConfigError("GCConfig.iters must be >= 0", option="gc.iters")
        if self.every < 1:
            raise ConfigError("GCConfig.every must be >= 1", option="gc.every")
        if not self.rate > 0:
            raise ConfigError("GCConfig.rate must be > 0", option="gc.rate")
        if self.save not in ("corrected", "uncorrected"):
            raise ConfigError("save must be 'corrected' or 'uncorrected'")
        if not 0 < self.bootstrap <= 1:
            raise ConfigError("GCConfig.bootstrap must lie in (0, 1]", option="gc.bootstrap")

    @property
    def enabled(self) -> bool:
        return self.iters > 0

    def applies_to(self, t: int) -> bool:
        """Whether frame ``t`` (0-based) is corrected."""
        return self.enabled and t > 0 and t % self.every == 0


@dataclass
class Reference:
    """A frame where objects were given: its cached query features and the given masks.

    Attributes:
        query: :meth:`~erfkit.model.memory_model.MemoryModel.encode_query` of the reference frame (``B == 1``).
        target: ``[1, J+1, H, W]`` one-hot mask of the ``J`` objects given there.
        slots: indices (into the predictor's ``K`` objects) of those ``J`` objects.
    """

    query: QueryState
    target: torch.Tensor
    slots: list[int]


def _reference_loss(model: MemoryModel, memory, references: list[Reference], gamma: float,
                    bootstrap: float | None = None) -> torch.Tensor:
    """Sum over the references of the loss of rebuilding each one's given mask from ``memory``."""
    loss = references[0].target.new_zeros(())
    for ref in references:
        mem = memory if len(ref.slots) == memory.num_objects else memory.select(ref.slots)
        logits = model.segment(ref.query, mem)
        loss = loss + segmentation_loss(logits, ref.target, gamma, bootstrap=bootstrap)
    return loss


def gradient_correction(model: MemoryModel, frame: torch.Tensor, probs: torch.Tensor, references: list[Reference],
                        config: GCConfig, *, return_losses: bool = False):
    """Refine ``probs`` of ``frame`` by ``config.iters`` gradient steps (Eq. 5).

    Args:
        model: the network, any :class:`~erfkit.model.memory_model.MemoryModel` (its weights are not changed and get no gradients).
        frame: ``[1, 3, H, W]``.
        probs: ``[1, K+1, H, W]`` predicted probabilities of ``frame``.
        references: where the objects were given (see :class:`Reference`).
        config: N, alpha, gamma, bootstrap.
        return_losses: also return the loss before each step.

    Returns:
        corrected probabilities ``[1, K+1, H, W]`` (not clamped, as in the
        authors' code), and the ``[N]`` losses if asked.
    """
    if config.iters == 0 or not references:
        y = probs.detach().clone()
        return (y, torch.zeros(0)) if return_losses else y
    with frozen(model), torch.enable_grad():
        with torch.no_grad():
            stem = model.memory_stem(frame)
        refs = [Reference(r.query.detach(), r.target, r.slots) for r in references]

        def loss_fn(y: torch.Tensor) -> torch.Tensor:
            return _reference_loss(model, model.memorize(frame, y, stem=stem), refs, config.gamma, config.bootstrap)

        y, losses = mask_descent(probs, loss_fn, config.iters, config.rate)
    return (y, torch.tensor(losses.tolist())) if return_losses else y


def gradient_correction_naive(model: MemoryModel, frame: torch.Tensor, probs: torch.Tensor,
                              reference_frames: list[torch.Tensor], references: list[Reference],
                              config: GCConfig) -> torch.Tensor:
    """The straightforward version: re-encode the reference frame and compute weight gradients at every step.

    Same result as :func:`gradient_correction`; kept for tests and for the
    benchmark that measures what caching saves.  The steps are
    :func:`~erfkit.inference.descent.mask_descent_naive`.
    """

    def loss_fn(y: torch.Tensor) -> torch.Tensor:
        memory = model.memorize(frame, y)
        loss = frame.new_zeros(())
        for ref_frame, ref in zip(reference_frames, references):
            mem = memory if len(ref.slots) == memory.num_objects else memory.select(ref.slots)
            loss = loss + segmentation_loss(model.segment(ref_frame, mem), ref.target, config.gamma,
                                            bootstrap=config.bootstrap)
        return loss

    y, _ = mask_descent_naive(model, probs, loss_fn, config.iters, config.rate)
    return y
