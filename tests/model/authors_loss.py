"""An independent transcription of the paper authors' test-time GC criterion (for tests only).

Written from the facts in ``shared/notes`` about STM-Training's ``test.py``:
``cross_entropy_loss(pred, target, n) + mask_iou_loss(pred, target, n)`` with
``pred`` the softmax of the soft-aggregated logits, ``target`` one-hot, both
``[N, C, H, W]``, and ``n`` the number of objects.  Loops over the batch and
the channels, as the formulas read; differentiable, so tests can take its
gradient.
"""

from __future__ import annotations

import torch


def authors_cross_entropy(pred: torch.Tensor, target: torch.Tensor, n: int, bootstrap: float = 0.4,
                          ref: torch.Tensor | None = None) -> torch.Tensor:
    N, _, H, W = pred.shape
    num = int(H * W * bootstrap)  # floor
    per_batch = []
    for b in range(N):
        pix = torch.zeros(H, W, dtype=pred.dtype)
        for c in range(n + 1):
            term = -torch.log(pred[b, c]) * target[b, c]  # no epsilon
            if ref is not None and float(ref[b, c].sum()) == 0:
                term = term * 0
            pix = pix + term
        hardest = torch.sort(pix.reshape(-1), descending=True).values[:num]
        per_batch.append(hardest.sum() / num)
    return torch.stack(per_batch).mean()


def authors_mask_iou(pred: torch.Tensor, target: torch.Tensor, n: int,
                     ref: torch.Tensor | None = None) -> torch.Tensor:
    per_batch = []
    for b in range(pred.shape[0]):
        terms = []
        for o in range(1, n + 1):
            if ref is not None and float(ref[b, o].sum()) == 0:
                continue  # left out of the mean
            p, y = pred[b, o], target[b, o]
            terms.append(1 - torch.minimum(p, y).sum() / torch.maximum(p, y).sum())  # no epsilon
        per_batch.append(torch.stack(terms).mean())
    return torch.stack(per_batch).mean()


def authors_loss(pred: torch.Tensor, target: torch.Tensor, n: int, bootstrap: float = 0.4,
                 ref: torch.Tensor | None = None) -> torch.Tensor:
    return authors_cross_entropy(pred, target, n, bootstrap, ref) + authors_mask_iou(pred, target, n, ref)
