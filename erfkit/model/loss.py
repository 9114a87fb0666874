"""The segmentation loss of the paper (Eq. 4): pixel cross-entropy + gamma * (1 - soft IoU).

Training, gradient correction and cycle-ERF all use this one function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["segmentation_loss", "soft_iou"]


def soft_iou(probs: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Soft IoU ``sum(min(p, y)) / sum(max(p, y))`` of each object (background excluded).

    Args:
        probs: ``[B, K+1, H, W]`` probabilities.
        target: ``[B, K+1, H, W]`` target masks (one-hot or soft).
        valid: ``[B, K]`` bool, the object slots that hold an object.

    Returns:
        ``[B, K]`` IoU per object (1 where both are empty).
    """
    p, y = probs[:, 1:], target[:, 1:]
    inter = torch.minimum(p, y).flatten(2).sum(-1)
    union = torch.maximum(p, y).flatten(2).sum(-1)
    iou = torch.where(union > 0, inter / union.clamp_min(1e-12), torch.ones_like(union))
    if valid is not None:
        iou = torch.where(valid, iou, torch.ones_like(iou))
    return iou


def segmentation_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 1.0,
    *,
    valid: torch.Tensor | None = None,
    bootstrap: float | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy plus ``gamma * (1 - soft IoU)`` (paper Eq. 4).

    With ``bootstrap=0.4`` and ``gamma=1`` this is the criterion of the
    authors' code (``cross_entropy_loss + mask_iou_loss``): the per-pixel
    cross-entropy ``-sum_c y_c log p_c`` is sorted and only the
    ``int(H * W * bootstrap)`` largest values of each frame (floor, at least
    one) are averaged; pixels whose target is zero in every channel contribute
    0 but still count among the pixels.

    Args:
        logits: ``[B, K+1, H, W]`` (after soft aggregation).
        target: ``[B, K+1, H, W]`` one-hot (or soft) target; channel 0 is the background.
        gamma: weight of the IoU term (the paper: 1.0).
        valid: ``[B, K]`` bool, the object slots that count (the authors'
            ``ref=``).  Invalid objects are left out of the IoU mean AND their
            channels are dropped from the cross-entropy (the background channel
            always counts).  Padded slots have all-zero targets, so for them
            this changes nothing.  ``None``: every slot counts.
        bootstrap: fraction in ``(0, 1]`` of the hardest pixels of each frame
            that the cross-entropy averages (the authors' code: 0.4), or
            ``None`` for the plain pixel mean (``1.0`` gives the same).
        reduction: ``"mean"`` over the batch, or ``"none"`` for ``[B]``.

    Returns:
        the loss (a scalar, or ``[B]``).  The cross-entropy is a mean over
        pixels, so its gradient with respect to one pixel is small: this is
        why gradient correction uses a large rate.
    """
    if bootstrap is not None and not 0 < bootstrap <= 1:
        raise ValueError(f"bootstrap must lie in (0, 1], got {bootstrap}")
    logp = F.log_softmax(logits, dim=1)
    weighted = target * logp
    if valid is not None:
        keep = torch.cat([torch.ones_like(valid[:, :1], dtype=torch.bool), valid.bool()], 1)  # [B, K+1], background kept
        weighted = weighted * keep[:, :, None, None].to(weighted.dtype)
    ce_pix = -weighted.sum(1).flatten(1)  # [B, HW]
    hw = ce_pix.shape[1]
    k = hw if bootstrap is None else max(1, int(hw * bootstrap))  # floor, as the authors' code
    if k >= hw:
        ce = ce_pix.mean(1)
    else:
        ce = ce_pix.topk(k, dim=1).values.mean(1)
    iou = soft_iou(logp.exp(), target, valid)
    if valid is not None:
        n = valid.sum(1).clamp_min(1)
        iou_term = ((1 - iou) * valid).sum(1) / n
    else:
        iou_term = (1 - iou).mean(1) if iou.shape[1] else torch.zeros_like(ce)
    loss = ce + gamma * iou_term
    return loss.mean() if reduction == "mean" else loss
