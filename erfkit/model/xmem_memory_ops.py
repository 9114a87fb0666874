"""XMem's memory read: anisotropic L2 similarity, top-k softmax, readout.

Plain functions on tensors, shared by :meth:`erfkit.model.xmem.XMem.read_memory`
(one softmax over the whole memory, as XMem trains) and the inference memory
manager (working and long-term memory, top-k).

Shapes: ``B`` batch, ``Ck`` key channels, ``Cv`` value channels, ``N`` memory
elements (``T*h*w`` flattened), ``M`` query elements (``h*w`` flattened).
Inputs may keep their spatial dimensions; everything from dim 2 on is flattened.

The similarity of memory element ``i`` and query element ``j`` is (XMem, eq. 3
and its appendix)::

    S_ij = -s_i * sum_c e_cj * (k_ci - q_cj)^2 / sqrt(Ck)

with ``s_i >= 1`` the memory key's shrinkage and ``e_cj in (0, 1)`` the query's
selection.  Without a selection the term ``sum_c q_cj^2`` is dropped (as XMem
does): it is the same for every memory element, so the softmax over the memory
does not see it, and the result is ``-s_i * (||k_i||^2 - 2 k_i.q_j) / sqrt(Ck)``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["similarity", "topk_softmax", "affinity", "readout"]


def similarity(memory_key: torch.Tensor, memory_shrinkage: torch.Tensor | None, query_key: torch.Tensor,
               query_selection: torch.Tensor | None) -> torch.Tensor:
    """Negative anisotropic squared L2 distance between every memory and query element.

    Args:
        memory_key: ``[B, Ck, N]`` (or ``[B, Ck, T, h, w]``).
        memory_shrinkage: ``[B, 1, N]`` (or ``[B, 1, T, h, w]``), each element's
            shrinkage ``s >= 1``; ``None``: 1 everywhere.
        query_key: ``[B, Ck, M]`` (or ``[B, Ck, h, w]``).
        query_selection: ``[B, Ck, M]`` (or ``[B, Ck, h, w]``), the query's
            per-channel weights in ``(0, 1)``; ``None``: 1 everywhere and the
            query's own squared norm is dropped (see the module docstring).

    Returns:
        ``[B, N, M]``: the similarity ``S_ij`` of memory element ``i`` and query element ``j``.
    """
    ck = memory_key.shape[1]
    mk = memory_key.flatten(start_dim=2)  # [B, Ck, N]
    qk = query_key.flatten(start_dim=2)  # [B, Ck, M]
    mk_t = mk.transpose(1, 2)  # [B, N, Ck]
    if query_selection is not None:
        qe = query_selection.flatten(start_dim=2)
        # -sum_c e (k - q)^2 = -(k^2 . e) + 2 k . (q e) - sum_c e q^2
        s = -(mk_t.pow(2) @ qe) + 2 * (mk_t @ (qk * qe)) - (qe * qk.pow(2)).sum(1, keepdim=True)
    else:
        s = -mk.pow(2).sum(1).unsqueeze(2) + 2 * (mk_t @ qk)
    if memory_shrinkage is not None:
        s = s * memory_shrinkage.flatten(start_dim=1).unsqueeze(2)
    return s / math.sqrt(ck)


def topk_softmax(sim: torch.Tensor, top_k: int | None = None, *, return_usage: bool = False
                 ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Softmax over the memory, keeping each query element's ``top_k`` largest similarities only.

    The other entries get weight 0.  The maximum is subtracted before the
    exponential (XMem's top-k branch does not; the weights are the same up to
    rounding, and here they cannot overflow, nor all underflow to 0/0).

    Args:
        sim: ``[B, N, M]`` similarities from :func:`similarity`.
        top_k: how many memory elements each query element reads (XMem's
            inference: 30); ``None`` or ``>= N``: all of them.
        return_usage: also return each memory element's usage, the sum of its
            weights over the query (XMem's long-term memory counts it).

    Returns:
        the affinity ``[B, N, M]`` (each column sums to 1), and with
        ``return_usage`` the usage ``[B, N]``.
    """
    n = sim.shape[1]
    if top_k is None or top_k >= n:
        weights = torch.softmax(sim, dim=1)
    else:
        values, indices = torch.topk(sim, k=top_k, dim=1)
        weights = torch.zeros_like(sim).scatter_(1, indices, torch.softmax(values, dim=1))
    if return_usage:
        return weights, weights.sum(dim=2)
    return weights


def affinity(memory_key: torch.Tensor, memory_shrinkage: torch.Tensor | None, query_key: torch.Tensor,
             query_selection: torch.Tensor | None, top_k: int | None = None) -> torch.Tensor:
    """:func:`topk_softmax` of :func:`similarity`: ``[B, N, M]`` read weights (XMem's ``get_affinity``)."""
    return topk_softmax(similarity(memory_key, memory_shrinkage, query_key, query_selection), top_k)


def readout(weights: torch.Tensor, memory_value: torch.Tensor) -> torch.Tensor:
    """Weighted sum of memory values: ``memory_value @ weights``.

    Args:
        weights: ``[B, N, M]`` affinity (read weights).
        memory_value: ``[B, Cv, N]`` (or ``[B, Cv, T, h, w]``).  Leading
            dimensions broadcast, so objects that share one affinity read
            together: values ``[K, Cv, N]`` with weights ``[1, N, M]``.

    Returns:
        ``[B, Cv, M]``.
    """
    if memory_value.dim() == 5:
        memory_value = memory_value.flatten(start_dim=2)
    if memory_value.shape[-1] != weights.shape[-2]:
        raise ValueError(f"memory values have {memory_value.shape[-1]} elements, the affinity {weights.shape[-2]}")
    return memory_value @ weights
