"""Classic effective receptive fields (Luo et al., NeurIPS 2016) of a memory network's output unit.

The output unit is one pixel of one object's logit in frame ``t``: the
object's UNCLAMPED logit (:meth:`~erfkit.model.memory_model.MemoryModel.object_logits`, see :func:`classic_erf`
for why); by default the object's centroid in frame ``t``.  Its ERF is the
gradient of that unit with respect to the input pixels, reduced over the
colour channels, with respect to

* the QUERY frame ``X_t`` (memory fixed), or
* a MEMORY frame ``X_l`` (memorised with its mask; query fixed).

Reductions: ``"abs"`` sums ``|g|`` over channels (Luo et al.); ``"positive"``
sums ``relu(g)`` (the RepLKNet scripts).  Maps of many frames are averaged
*centred on the output unit* (each map shifted so that its unit lands at the
centre), as Luo et al. average over inputs with a fixed unit.  Display:
``log10(map + 1)`` divided by its maximum.  The high-contribution area ratio
is RepLKNet's (:func:`high_contribution_area_ratio`).  :class:`ClassicERF` is
the :class:`~erfkit.explain.base.Explainer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..errors import ConfigError
from ..model.memory_model import MemoryModel
from ..tensors import frozen
from .base import Explainer, ExplainerInputs, Progress
from .keys import MapKey, Side

__all__ = ["ERFResult", "ClassicERF", "classic_erf", "object_centroid", "centred_average", "erf_display",
           "high_contribution_area_ratio"]

Reduction = Literal["abs", "positive"]
REDUCTIONS = ("abs", "positive")


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


def classic_erf(model: MemoryModel, query_frame: torch.Tensor, memory_frame: torch.Tensor, memory_mask: torch.Tensor,
                units: list[tuple[int, int] | None], *, wrt: Literal["query", "memory"] = "query",
                reduction: Reduction = "abs") -> ERFResult:
    """ERF of each object's output unit in the query frame.

    The unit is differentiated on the object's UNCLAMPED logit
    ``z_k = up4(l1 - l0)``, the decoder's output before soft aggregation
    (:meth:`~erfkit.model.memory_model.MemoryModel.object_logits`).  Soft aggregation (:func:`soft_aggregate`)
    returns, for object ``k``, ``logit(clamp(sigmoid(z_k), 1e-7, 1 - 1e-7))``:
    that is ``z_k`` itself wherever the clamp is inactive, but where the model
    is confident (``|z_k|`` above about 16; in float32 the sigmoid itself
    rounds to 1 beyond about 17) the clamp flattens it and its gradient is
    exactly 0, so a confident model (e.g. a trained ResNet-50) gave empty
    maps.  ``z_k`` is the aggregated object logit with the clamp removed
    (``logit(sigmoid(z)) = z``), computed without the round trip through the
    sigmoid that would saturate in floating point; its gradient equals the
    clamped one wherever the clamp is inactive.  (The background channel's
    logit is never a unit here.)  The segmentation, :meth:`~erfkit.model.memory_model.MemoryModel.segment`, is
    unchanged.

    Args:
        model: the network, any :class:`~erfkit.model.memory_model.MemoryModel` (weights get no gradients).
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
        logits = model.object_logits(q, memory)  # [1, K, H, W], unclamped (see above)
        source = q if wrt == "query" else mframe
        for k, unit in enumerate(units):
            if unit is None:
                continue
            y, x = unit
            (grad,) = torch.autograd.grad(logits[0, k, y, x], source, retain_graph=True)
            maps[k] = _reduce(grad, reduction)[0]
    return ERFResult(maps.detach(), list(units), wrt)


class ClassicERF(Explainer):
    """Classic ERF as an :class:`~erfkit.explain.base.Explainer`: :func:`classic_erf` of each frame ``l``.

    The output unit of object ``k`` is :func:`object_centroid` of its region in
    the frame segmented:

    * ``wrt="query"``: frame ``l`` is the query, segmented from the target's
      memory (``target_frame``, ``target_mask``); units from ``frame_regions[l]``
      (or ``frame_masks``);
    * ``wrt="memory"``: frame ``l`` is the memory (with ``frame_masks[l]``,
      required), the target frame is segmented; units from ``target_regions``.

    Extras: ``units [L, K, 2]`` long, ``(y, x)`` of each unit, ``-1`` where the
    object is absent (its map is zero).

    Args:
        model: the network (any :class:`~erfkit.model.memory_model.MemoryModel`).
        wrt: frame ``l`` as the ``query`` or the ``memory``.
        reduction: ``abs`` or ``positive`` over the colour channels.
    """

    def __init__(self, model: MemoryModel, wrt: Side = "query", reduction: Reduction = "abs"):
        super().__init__(model)
        if wrt not in ("query", "memory"):
            raise ConfigError(f"wrt must be 'query' or 'memory', not {wrt!r}")
        if reduction not in REDUCTIONS:
            raise ConfigError(f"reduction must be 'abs' or 'positive', not {reduction!r}")
        self.wrt = wrt
        self.reduction = reduction

    @property
    def key(self) -> MapKey:
        return MapKey.erf(self.wrt)

    @property
    def settings(self) -> dict:
        return {"wrt": self.wrt, "reduction": self.reduction, "unit": "object_centroid"}

    def _attribute(self, inputs: ExplainerInputs, progress: Progress | None):
        if self.wrt == "memory":
            masks = inputs.need_frame_masks()
            units_t = [object_centroid(r) for r in inputs.target_regions]
        else:
            regions = inputs.need_frame_regions()
        maps, units = [], []
        for l in range(inputs.L):
            x_l = inputs.frames[l:l + 1]
            if self.wrt == "query":
                u = [object_centroid(r) for r in regions[l]]
                r = classic_erf(self.model, x_l, inputs.target_frame, inputs.target_mask, u, wrt="query",
                                reduction=self.reduction)
            else:
                u = units_t
                r = classic_erf(self.model, inputs.target_frame, x_l, masks[l:l + 1], u, wrt="memory",
                                reduction=self.reduction)
            maps.append(r.maps)
            units.append([(-1, -1) if p is None else p for p in u])
            if progress is not None:
                progress(l + 1, inputs.L)
        H, W = inputs.frames.shape[-2:]
        out = torch.stack(maps) if maps else inputs.frames.new_zeros((0, inputs.K, H, W))
        unit_t = torch.tensor(units, dtype=torch.long).reshape(inputs.L, inputs.K, 2)
        return out, {"units": unit_t}


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
    """RepLKNet's high-contribution area ratio, on a square centred on ``centre``.

    The definition of RepLKNet (Ding et al., CVPR 2022; ``erf/analyze_erf.py``
    of DingXiaoH/RepLKNet-pytorch): the map is normalised as
    ``log10(map + 1) / max``; centred squares of side ``2i + 1`` are grown
    from ``i = 1`` (side 3); for each threshold ``t`` the first square whose
    share of the normalised map's total is strictly greater than ``t``
    (``share > t``) gives the ratio ``square area / image area``.

    Where this differs from that script, and why:

    * the square is centred on ``centre`` (the output unit), not on the image
      centre ``(H // 2, W // 2)``; pass that centre to get the script's squares;
    * the square is clipped to the image and its clipped area is reported
      (never above 1); for the script's centre on a square image the squares
      the script visits are never clipped, so the numbers agree;
    * squares keep growing until they cover the image (the script stops at
      ``i = H // 2 - 1`` and returns ``None``); so every ``t < 1`` is reached
      and the ratio is a number wherever the script gives one, and the same;
    * negative values are clipped to 0 first (ERF maps are non-negative).

    ``log10(map + 1)`` is not scale-invariant: the ratio depends on the map's
    units (raw gradients, or ERFs summed over many inputs as RepLKNet does).

    Args:
        erf: ``[H, W]`` the map (raw, not the display map: it is normalised here).
        centre: ``(y, x)`` the square's centre, e.g. the output unit; ``None``
            (no unit, e.g. the object is absent) gives ``nan`` for every threshold.
        thresholds: the fractions ``t``.

    Returns:
        ``{t: ratio}``; ``nan`` where ``t`` is never exceeded (a zero map,
        ``t >= 1``, no centre): that case does not raise.

    Raises:
        ValueError: ``centre`` lies outside the map.
    """
    a = erf.detach().double().cpu().numpy() if isinstance(erf, torch.Tensor) else np.asarray(erf, dtype=np.float64)
    a = np.log10(np.clip(a, 0, None) + 1)
    out = {t: float("nan") for t in thresholds}
    top = a.max(initial=0.0)
    if centre is None or not top > 0:
        return out
    a = a / top
    H, W = a.shape
    cy, cx = int(centre[0]), int(centre[1])
    if not (0 <= cy < H and 0 <= cx < W):
        raise ValueError(f"centre {centre} lies outside the {H}x{W} map")
    S = np.zeros((H + 1, W + 1))
    S[1:, 1:] = a.cumsum(0).cumsum(1)
    total = S[H, W]  # the whole image's share is exactly 1 below
    reach = max(cy, H - 1 - cy, cx, W - 1 - cx, 1)  # the square of half-side `reach` covers the image
    i = np.arange(1, reach + 1)
    y0, y1 = np.clip(cy - i, 0, H), np.clip(cy + i + 1, 0, H)
    x0, x1 = np.clip(cx - i, 0, W), np.clip(cx + i + 1, 0, W)
    share = (S[y1, x1] - S[y0, x1] - S[y1, x0] + S[y0, x0]) / total
    area = (y1 - y0) * (x1 - x0)
    for t in thresholds:
        hit = np.flatnonzero(share > t)
        if hit.size:
            out[t] = float(area[hit[0]]) / (H * W)
    return out
