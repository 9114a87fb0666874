"""One training step of the paper: the forward chain and, in cyclic mode, the backward predictions.

Forward (baseline): memorise frame 1 with its ground truth, segment frame 2,
memorise frame 2 with its PREDICTED probabilities (not detached: gradients flow
through the chain), segment frame 3 from memory {1, 2}, and so on.

Cyclic: for every later frame ``t``, predict frame 1 back from the memory of
frame ``t`` alone, ``Y1_hat = S(X_t, Y_t_hat, X_1)``, and add ``L(Y1_hat, Y1)``.
As in the authors' code (their ``ref=`` argument), that loss is scored only on
the objects that frame ``t``'s ground truth holds: an object absent from frame
``t`` cannot be carried back from its memory, so its cross-entropy channel and
its IoU term are left out.  A frame ``t`` that holds none of the clip's objects
makes no backward loss at all.  (The authors' gate is narrower and depends on
object order: they make the backward prediction only when the object with the
highest slot number is present in frame ``t``; here any present object counts.)
The memory of each ``(X_t, Y_t_hat)`` is the one the forward chain computed (the
last frame's is computed in addition); frame 1's query features are computed
once for all of them.

A clip's loss is the sum over its predicted frames of the forward and backward
losses, or, with ``frame_mean``, that sum divided by ``T - 1`` (the authors'
``total_loss / (N * (T - 1))``); the batch loss is the mean over clips.
"""

from __future__ import annotations

import torch
from torch import nn

from ..model.loss import segmentation_loss
from ..model.stm import STM, Memory

__all__ = ["TrainStep"]


class TrainStep(nn.Module):
    """The loss of one batch of clips.

    Args:
        model: the STM being trained.
        mode: ``baseline`` or ``cyclic``.
        gamma: weight of the IoU term.
        bootstrap: fraction of hardest pixels in the cross-entropy, or ``None``.
        frame_mean: divide each clip's loss by its ``T - 1`` predicted frames
            (the authors' code) instead of summing them.

    ``forward(frames [B, T, 3, H, W], masks [B, T, K+1, H, W], valid [B, K])``
    returns ``{"loss", "forward", "cyclic"}`` (scalars; ``loss`` is their sum).
    """

    def __init__(self, model: STM, mode: str = "baseline", gamma: float = 1.0, bootstrap: float | None = None,
                 frame_mean: bool = False):
        super().__init__()
        self.model = model
        self.cyclic = mode == "cyclic"
        self.gamma = gamma
        self.bootstrap = bootstrap
        self.frame_mean = frame_mean

    def _loss(self, logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return segmentation_loss(logits, target, self.gamma, valid=valid, bootstrap=self.bootstrap, reduction="none")

    def forward(self, frames: torch.Tensor, masks: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
        model = self.model
        B, T = frames.shape[:2]
        valid = valid.bool()
        memories = [model.memorize(frames[:, 0], masks[:, 0])]
        forward = frames.new_zeros(B)
        for t in range(1, T):
            logits = model.segment(frames[:, t], Memory.cat(memories), valid)
            forward = forward + self._loss(logits, masks[:, t], valid)
            if t < T - 1 or self.cyclic:
                memories.append(model.memorize(frames[:, t], logits.softmax(1)))
        scale = 1.0 / (T - 1) if self.frame_mean else 1.0
        out = {"forward": forward.mean() * scale}
        if self.cyclic:
            query = model.encode_query(frames[:, 0])  # frame 1's query side, once for every t
            # [B, T-1, K]: the clip's objects that frame t's ground truth holds (the authors' ref=)
            present = (masks[:, 1:, 1:].flatten(3).amax(3) > 0) & valid[:, None, :]
            cyclic = frames.new_zeros(B)
            # One decode per t: on a CPU, one batch of all t is slower (it leaves the caches).
            for t, memory in enumerate(memories[1:]):
                ref = present[:, t]
                logits1 = model.segment(query, memory, valid)
                cyclic = cyclic + self._loss(logits1, masks[:, 0], ref) * ref.any(1)
            out["cyclic"] = cyclic.mean() * scale
        else:
            out["cyclic"] = forward.new_zeros(())
        out["loss"] = out["forward"] + out["cyclic"]
        return out
