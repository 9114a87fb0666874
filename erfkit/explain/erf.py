"""Classic effective receptive fields (Luo et al., NeurIPS 2016) of an STM output unit.

The output unit is one pixel of one object's logit in frame ``t`` (the
soft-aggregated logit, channel ``k+1`` of :meth:`STM.segment`); by default the
object's centroid in frame ``t``.  Its ERF is the gradient of that unit with
respect to the input pixels, reduced over the colour channels, with respect to

* the QUERY frame ``X_t`` (memory fixed), or
* a MEMORY frame ``X_l`` (memorised with its mask; query fixed).

Reductions: ``"abs"`` sums ``|g|`` over channels (Luo et al.); ``"positive"``
sums ``relu(g)`` (the RepLKNet scripts).  Maps of many frames are averaged
*centred on the output unit* (each map shifted so that its unit lands at the
centre), as Luo et al. average over inputs with a fixed unit.  Display:
``log10(map + 1)`` divided by its maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..errors import ConfigError
from ..inference.correction import frozen
from ..model.stm import STM

__all__ = ["ERFResult", "classic_erf", "object_centroid", "centred_average", "erf_display",
           "high_contribution_area_ratio"]

Reduction = Literal["abs", "positive"]


@dataclass
class ERFResult:
    """ERF maps of one output unit per object.

    Attributes:
        maps: ``[K, H, W]`` non-negative, on the frame the gradient was taken on.
        units: ``[(y, x)]`` the output pixel of each object (``None`` if the object is absent).
        wrt: ``"query"`` or ``"memory"``.
    """

    maps: torch.Tensor
    units: list[tuple[int, int] | None]
    wrt: str


def object_centroid(mask: np.ndarray | torch.Tensor) -> tuple[int, int] | None:
    """The object pixel nearest to the mask's centre of mass (inside the object), or ``None`` if empty."""
    m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    ys, xs = np.nonzero(m > 0.5)
    if ys.size == 0:
        return None
    cy, cx = ys.mean(), xs.mean()
    i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return int(ys[i]), int(xs[i])


def _reduce(grad: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    if reduction == "abs":
        return grad.abs().sum(1)
    if reduction == "positive":
        return grad.clamp_min(0).sum(1)
    raise ConfigError(f"reduction must be 'abs' or 'positive', not {reduction!r}")


def classic_erf(model: STM, query_frame: torch.Tensor, memory_frame: torch.Tensor, memory_mask: torch.Tensor,
                units: list[tuple[int, int] | None], *, wrt: Literal["query", "memory"] = "query",
                reduction: Reduction = "abs") -> ERFResult:
    """ERF of each object's output unit in the query frame.

    Args:
        model: the STM (weights get no gradients).
        query_frame: ``[1, 3, H, W]``, the frame ``t`` segmented.
        memory_frame: ``[1, 3, H, W]``, the memory frame ``l``.
        memory_mask: ``[1, K+1, H, W]``, its mask (e.g. its ground truth).
        units: ``(y, x)`` output pixel of each of the ``K`` objects (``None``: skip, zero map),
            e.g. :func:`object_centroid` of each object in frame ``t``.
        wrt: take the gradient with respect to the ``query`` or the ``memory`` frame.
        reduction: ``abs`` or ``positive`` over the colour channels.

    Returns:
        :class:`ERFResult` with maps ``[K, H, W]`` on the query frame (``wrt="query"``)
        or on the memory frame (``wrt="memory"``).
    """
    if wrt not in ("query", "memory"):
        raise ConfigError(f"wrt must be 'query' or 'memory', not {wrt!r}")
    K = memory_mask.shape[1] - 1
    if len(units) != K:
        raise ValueError(f"{len(units)} output units for {K} objects")
    H, W = query_frame.shape[-2:]
    maps = query_frame.new_zeros((K, H, W))
    with frozen(model), torch.enable_grad():
        q = query_frame.detach().clone().requires_grad_(wrt == "query")
        mframe = memory_frame.detach().clone().requires_grad_(wrt == "memory")
        if wrt == "query":
            with torch.no_grad():
                memory = model.memorize(mframe, memory_mask)
        else:
            memory = model.memorize(mframe, memory_mask)
        logits = model.segment(q, memory)
        source = q if wrt == "query" else mframe
        for k, unit in enumerate(units):
            if unit is None:
                continue
            y, x = unit
            (grad,) = torch.autograd.grad(logits[0, k + 1, y, x], source, retain_graph=True)
            maps[k] = _reduce(grad, reduction)[0]
    return ERFResult(maps.detach(), list(units), wrt)


def centred_average(maps: list[np.ndarray], units: list[tuple[int, int]]) -> np.ndarray:
    """Average ``[H, W]`` maps after shifting each so that its unit sits at the centre.

    Returns:
        ``[2H-1, 2W-1]`` with every unit at ``(H-1, W-1)``.
    """
    if not maps:
        raise ValueError("no maps to average")
    H, W = maps[0].shape
    acc = np.zeros((2 * H - 1, 2 * W - 1))
    for m, (y, x) in zip(maps, units):
        oy, ox = H - 1 - y, W - 1 - x
        acc[oy:oy + H, ox:ox + W] += m
    return acc / len(maps)


def erf_display(erf: np.ndarray | torch.Tensor) -> np.ndarray:
    """``log10(map + 1)`` divided by its maximum (zeros stay zeros)."""
    a = erf.detach().cpu().numpy() if isinstance(erf, torch.Tensor) else np.asarray(erf, dtype=np.float64)
    a = np.log10(np.clip(a, 0, None) + 1)
    top = a.max(initial=0.0)
    return a / top if top > 0 else a


def high_contribution_area_ratio(erf: np.ndarray | torch.Tensor, centre: tuple[int, int] | None,
                                 thresholds: tuple[float, ...] = (0.2, 0.3, 0.5, 0.99)) -> dict[float, float]:
    """Area of the smallest square centred on ``centre`` holding a fraction of the map's total.

    For each threshold ``t``: the smallest square of odd side ``2r+1`` centred
    on ``centre`` that holds ``t`` of the total, reported as its area (clipped
    to the image) over the image's area.  A threshold never reached
    (a zero map, no centre) gives ``nan``; nothing raises.
    """
    a = erf.detach().cpu().numpy() if isinstance(erf, torch.Tensor) else np.asarray(erf, dtype=np.float64)
    a = np.clip(a.astype(np.float64), 0, None)
    H, W = a.shape
    total = a.sum()
    out = {t: float("nan") for t in thresholds}
    if centre is None or not total > 0:
        return out
    cy, cx = centre
    S = np.zeros((H + 1, W + 1))
    S[1:, 1:] = a.cumsum(0).cumsum(1)
    r = np.arange(max(H, W))
    y0, y1 = np.clip(cy - r, 0, H), np.clip(cy + r + 1, 0, H)
    x0, x1 = np.clip(cx - r, 0, W), np.clip(cx + r + 1, 0, W)
    inside = (S[y1, x1] - S[y0, x1] - S[y1, x0] + S[y0, x0]) / total
    area = (y1 - y0) * (x1 - x0)  # the square clipped to the image
    for t in thresholds:
        hit = np.flatnonzero(inside >= t - 1e-12)
        if hit.size:
            out[t] = float(area[hit[0]]) / (H * W)
    return out
