"""Numbers for maps, so that "more concentrated on the object" is measured, not eyeballed.

Every map lives on one frame (the frame it was taken on) and belongs to one object:

* ``energy``: the share of the map's positive mass inside the object's mask
  on that frame (the "energy pointing game");
* ``pointing``: 1 if the map's maximum lies within ``tolerance`` pixels of the
  object, else 0;
* ``area50``: :func:`~erfkit.explain.erf.high_contribution_area_ratio` at 0.5
  (RepLKNet's definition: the map as ``log10(map + 1)``, the first centred
  square from side 3 holding strictly more than half), centred on the
  object's centroid on that frame;
* ``deletion`` / ``insertion``: pixels of the map's frame are removed (set to
  black) or inserted (into a blurred copy) in decreasing map order, in
  ``steps`` equal parts; after each part the object's prediction is scored
  with its IoU against the ground truth; the area under that curve is
  ``(sum(v) - v[0]/2 - v[-1]/2) / (len(v) - 1)``.  Lower deletion and higher
  insertion mean a map that points at what the prediction needs;
* ``sanity``: Spearman rank correlation between the map and the same map
  computed by a copy of the model whose weights are randomised (Adebayo et
  al.); a map that explains the model should change (low correlation).
"""

from __future__ import annotations

import copy
import threading
from typing import Callable

import numpy as np
import torch
from scipy import ndimage, stats

from .erf import high_contribution_area_ratio, object_centroid

__all__ = ["energy_inside", "pointing_game", "auc", "deletion_insertion", "sanity_similarity",
           "randomized_model", "basic_metrics", "stride_pattern", "METRIC_COLUMNS"]

METRIC_COLUMNS = ["energy", "pointing", "area50", "deletion", "insertion", "sanity"]

# The layers' initialisers draw from torch's one global generator, which every thread of the process shares:
# two threads randomising at once would interleave their draws (and seeds), and the weights would depend on timing.
_GLOBAL_RNG = threading.Lock()


def _np(a: np.ndarray | torch.Tensor) -> np.ndarray:
    return a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float64)


def energy_inside(map_: np.ndarray | torch.Tensor, mask: np.ndarray) -> float:
    """Share of the positive mass inside ``mask`` (``nan`` for an empty mask or a zero map)."""
    a = np.clip(_np(map_), 0, None)
    total = a.sum()
    if not mask.any() or not total > 0:
        return float("nan")
    return float(a[mask].sum() / total)


def pointing_game(map_: np.ndarray | torch.Tensor, mask: np.ndarray, tolerance: int = 15) -> float:
    """1.0 if the map's maximum lies within ``tolerance`` pixels of the object, else 0.0 (``nan`` if undefined)."""
    a = _np(map_)
    if not mask.any() or not a.max(initial=0) > 0:
        return float("nan")
    y, x = np.unravel_index(int(np.argmax(a)), a.shape)
    if mask[y, x]:
        return 1.0
    dist = ndimage.distance_transform_edt(~mask)
    return float(dist[y, x] <= tolerance)


def auc(values: np.ndarray | list[float]) -> float:
    """Area under a curve sampled at equal steps on [0, 1] (trapezoids)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return float("nan")
    return float((v.sum() - v[0] / 2 - v[-1] / 2) / (v.size - 1))


def deletion_insertion(map_: np.ndarray | torch.Tensor, image: torch.Tensor,
                       score: Callable[[torch.Tensor], torch.Tensor], steps: int = 10,
                       blur_sigma: float = 5.0) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Deletion and insertion AUC of a map on ``image``.

    Args:
        map_: ``[H, W]`` the map.
        image: ``[1, 3, H, W]`` the frame the map lives on.
        score: batch of perturbed frames ``[N, 3, H, W]`` -> ``[N]`` scores (IoU).
        steps: the pixels are removed/inserted in this many equal parts.
        blur_sigma: Gaussian blur of the insertion start image (pixels).

    Returns:
        ``(deletion_auc, insertion_auc, deletion_curve, insertion_curve)``.
    """
    a = _np(map_)
    H, W = a.shape
    order = np.argsort(-a.ravel(), kind="stable")
    counts = np.round(np.linspace(0, H * W, steps + 1)).astype(int)
    rank = np.empty(H * W, np.int64)
    rank[order] = np.arange(H * W)
    rank_t = torch.from_numpy(rank.reshape(H, W)).to(image.device)
    keep_top = torch.stack([rank_t < c for c in counts]).unsqueeze(1).to(image.dtype)  # [S+1, 1, H, W]
    img = image.expand(steps + 1, *image.shape[1:])
    deleted = img * (1 - keep_top)
    blurred = torch.from_numpy(ndimage.gaussian_filter(image[0].cpu().numpy(), sigma=(0, blur_sigma, blur_sigma)))
    blurred = blurred.to(image)[None].expand_as(img)
    inserted = blurred * (1 - keep_top) + img * keep_top
    with torch.no_grad():
        d = score(deleted).cpu().numpy()
        i = score(inserted).cpu().numpy()
    return auc(d), auc(i), d, i


def sanity_similarity(map_: np.ndarray | torch.Tensor, random_map: np.ndarray | torch.Tensor,
                      downsample: int = 4) -> float:
    """Spearman rank correlation between a map and the randomised model's map (``nan`` if constant)."""
    a = _np(map_)[::downsample, ::downsample].ravel()
    b = _np(random_map)[::downsample, ::downsample].ravel()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def randomized_model(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """A copy of ``model`` with every layer re-initialised (full weight randomisation): the same weights for the
    same model and ``seed``, in any thread."""
    rnd = copy.deepcopy(model)
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in rnd.modules():
            if hasattr(m, "reset_parameters") and m is not rnd:
                m.reset_parameters()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
    return rnd.eval()


def stride_pattern(map_: np.ndarray | torch.Tensor, period: int = 2) -> tuple[float, float]:
    """How much a map ``[H, W]`` follows a regular grid of ``period`` pixels: the spread (standard deviation over
    the mean) of its mean over the rows ``y % period == i``, and over the columns ``x % period == i``.

    A strided convolution's gradient reaches the input pixels through a different number of kernel taps by
    their position modulo the stride, so maps taken through one show a grid of the stride (a dotted grid once
    drawn); a map with no grid has a spread near 0 (docs/cycle-erf.md, "The dotted grid").
    """
    a = np.abs(_np(map_).astype(np.float64))
    h, w = (a.shape[0] // period) * period, (a.shape[1] // period) * period
    a = a[:h, :w]
    rows = a.reshape(h // period, period, w).mean(axis=(0, 2))
    cols = a.reshape(h, w // period, period).mean(axis=(0, 1))
    mean = a.mean()
    if mean == 0:
        return 0.0, 0.0
    return float(rows.std() / mean), float(cols.std() / mean)


def basic_metrics(map_: np.ndarray | torch.Tensor, mask: np.ndarray) -> dict[str, float]:
    """The metrics that need no model: energy, pointing, area50 (RepLKNet's, centred on the object's centroid)."""
    centre = object_centroid(mask)
    return {"energy": energy_inside(map_, mask), "pointing": pointing_game(map_, mask),
            "area50": high_contribution_area_ratio(map_, centre, (0.5,))[0.5]}
