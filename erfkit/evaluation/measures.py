"""Per-frame region (J) and contour (F) measures, exactly as the DAVIS 2017 toolkit defines them.

J is the IoU of the boolean masks (1 when the union is empty).

F compares boundary maps.  A pixel is on the boundary of a mask where the mask
differs from its east, south or south-east neighbour; in the last row only the
east neighbour is compared, in the last column only the south one, and the
bottom-right pixel is never on it (the toolkit's ``seg2bmap``).  A predicted
boundary pixel is matched when a ground-truth boundary pixel lies within the
disk of radius ``r = ceil(0.008 * diagonal)`` (``skimage.morphology.disk(r)``:
``dx^2 + dy^2 <= r^2``) and vice versa; precision, recall and F follow, with the
toolkit's rules for empty boundaries.

The toolkit dilates full-frame boundary maps with the disk for every object.
Here all objects' boundary *points* come from one pass over the label image,
and matching is done on the points: within a row the distance to the nearest
boundary pixel is a running max/min, and the disk test is the minimum over the
``2r + 1`` row offsets of ``dy^2 + dx^2``.  Both give the same numbers;
:func:`f_measure_reference` is the literal algorithm, kept for tests and
benchmarks.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "bound_radius",
    "boundary_points",
    "boundary_map",
    "f_from_points",
    "frame_measures",
    "f_measure_reference",
    "jaccard",
]

def bound_radius(shape: tuple[int, int], bound_th: float = 0.008) -> int:
    """``ceil(bound_th * sqrt(H^2 + W^2))``: 8 at 480x854."""
    return int(math.ceil(bound_th * math.hypot(*shape))) if bound_th < 1 else int(bound_th)


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two boolean masks; 1.0 when both are empty."""
    union = np.count_nonzero(pred | gt)
    return 1.0 if union == 0 else np.count_nonzero(pred & gt) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """The toolkit's ``seg2bmap`` of a boolean mask ``[H, W]`` (1-pixel boundary)."""
    seg = mask.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def boundary_points(labels: np.ndarray, ids: list[int] | range) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Boundary pixel coordinates of every object of a label image, in one pass.

    A pixel lies on object ``k``'s boundary exactly when its 2x2 neighbourhood
    (itself, east, south, south-east; only the neighbours the toolkit compares
    at the last row/column) is not uniform and contains ``k``.

    Args:
        labels: ``[H, W]`` integer object ids.
        ids: the objects wanted.

    Returns:
        ``{k: (ys, xs)}`` for every ``k`` in ``ids`` (empty arrays when ``k`` has no boundary).
    """
    box = _object_box(labels)
    if box is None:
        empty = (np.zeros(0, np.intp), np.zeros(0, np.intp))
        return {k: empty for k in ids}
    return _boundary_points_in(labels, box, ids)


def _object_box(*labels: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` holding every non-zero pixel of the label images, or ``None``."""
    nz = labels[0] if len(labels) == 1 else np.maximum(*labels)
    rows = np.flatnonzero(nz.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(nz.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _boundary_points_in(labels: np.ndarray, box: tuple[int, int, int, int],
                        ids: list[int] | range) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """:func:`boundary_points` knowing that ``labels`` is 0 outside ``box``."""
    H, W = labels.shape
    empty = (np.zeros(0, np.intp), np.zeros(0, np.intp))
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {k: empty for k in ids}
    if not out:
        return out
    # One pixel more up/left (zeros next to an object can be boundary) and a
    # row/column of zeros below/right when the box does not reach the image's
    # last row/column (where the image-edge rules apply).
    y0, y1, x0, x1 = box
    y0, x0 = max(y0 - 1, 0), max(x0 - 1, 0)
    crop = labels[y0:y1, x0:x1]
    pad_b, pad_r = int(y1 < H), int(x1 < W)
    if pad_b or pad_r:
        crop = np.pad(crop, ((0, pad_b), (0, pad_r)))
    h, w = crop.shape
    groups = []
    if h > 1 and w > 1:
        c, e, s, se = crop[:-1, :-1], crop[:-1, 1:], crop[1:, :-1], crop[1:, 1:]
        ys, xs = np.nonzero((c != e) | (c != s) | (c != se))
        groups.append((ys, xs, (c[ys, xs], e[ys, xs], s[ys, xs], se[ys, xs])))
    if not pad_b and w > 1:  # the image's last row: east neighbour only
        xs = np.flatnonzero(crop[-1, :-1] != crop[-1, 1:])
        ys = np.full_like(xs, h - 1)
        groups.append((ys, xs, (crop[-1, xs], crop[-1, xs + 1])))
    if not pad_r and h > 1:  # the image's last column: south neighbour only
        ys = np.flatnonzero(crop[:-1, -1] != crop[1:, -1])
        xs = np.full_like(ys, w - 1)
        groups.append((ys, xs, (crop[ys, -1], crop[ys + 1, -1])))
    for k in out:
        py, px = [], []
        for ys, xs, labs in groups:
            sel = labs[0] == k
            for lab in labs[1:]:
                sel |= lab == k
            if sel.any():
                py.append(ys[sel])
                px.append(xs[sel])
        if py:
            out[k] = (np.concatenate(py) + y0, np.concatenate(px) + x0)
    return out


def _half_widths(r: int) -> np.ndarray:
    """``floor(sqrt(r^2 - dy^2))`` for ``dy = -r..r``: the rows of ``skimage.morphology.disk(r)``."""
    dy = np.arange(-r, r + 1)
    return np.array([math.isqrt(r * r - int(d) * int(d)) for d in dy], dtype=np.int64)


def _matched(src: tuple[np.ndarray, np.ndarray], dst: tuple[np.ndarray, np.ndarray], r: int) -> int:
    """How many ``src`` points have a ``dst`` point within Euclidean distance ``r``.

    The disk is a stack of horizontal segments (half-width ``w(dy)`` in row
    offset ``dy``).  With a row-wise cumulative sum ``C`` of the ``dst`` bitmap,
    row ``y + dy`` holds a ``dst`` point in ``[x - w, x + w]`` exactly when
    ``C[y + dy, x + w] - C[y + dy, x - w - 1] > 0``: one dense pass, then
    ``2 (2r + 1)`` lookups per ``src`` point.
    """
    sy, sx = src
    dy_, dx_ = dst
    y0 = min(sy.min(), dy_.min())
    x0 = min(sx.min(), dx_.min())
    h = max(sy.max(), dy_.max()) + 1 - y0
    W = max(sx.max(), dx_.max()) + 1 - x0 + 2 * r + 2
    bitmap = np.zeros((h + 2 * r) * W, np.int32)
    bitmap[(dy_ - y0 + r) * W + (dx_ - x0 + r + 1)] = 1
    csum = np.cumsum(bitmap.reshape(-1, W), axis=1).ravel()
    offsets = np.arange(-r, r + 1, dtype=np.int64)
    half = _half_widths(r)[:, None]
    base = ((sy - y0 + r) * W + (sx - x0 + r + 1)).astype(np.int64)[None, :] + (offsets * W)[:, None]
    hits = csum[base + half] - csum[base - half - 1]
    return int(np.count_nonzero(hits.max(axis=0)))


def f_from_points(pred: tuple[np.ndarray, np.ndarray], gt: tuple[np.ndarray, np.ndarray], r: int) -> float:
    """F of one object in one frame from its predicted and ground-truth boundary points."""
    n_fg, n_gt = pred[0].size, gt[0].size
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0  # (P, R) = (1, 0) or (0, 1)
    precision = _matched(pred, gt, r) / n_fg
    recall = _matched(gt, pred, r) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def frame_measures(pred: np.ndarray, gt: np.ndarray, num_objects: int, r: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """J and F of objects ``1..num_objects`` in one frame.

    Args:
        pred: ``[H, W]`` predicted ids.
        gt: ``[H, W]`` ground-truth ids (void already set to 0).
        num_objects: the sequence's object count.
        r: boundary tolerance (default: :func:`bound_radius` of the frame).

    Returns:
        ``(J, F)``, each ``[num_objects]`` float64.
    """
    if r is None:
        r = bound_radius(gt.shape)
    K = num_objects
    J = np.ones(K)
    F = np.ones(K)
    if K == 0:
        return J, F
    box = _object_box(gt, pred)
    if box is None:
        return J, F
    y0, y1, x0, x1 = box
    g, p = gt[y0:y1, x0:x1], pred[y0:y1, x0:x1]
    n = K + 1
    gt_c = np.where(g <= K, g, 0).astype(np.int32)
    pr_c = np.where(p <= K, p, 0).astype(np.int32)
    conf = np.bincount((gt_c * n + pr_c).ravel(), minlength=n * n).reshape(n, n)
    inter = np.diag(conf)[1:].astype(np.float64)
    union = conf[1:, :].sum(1) + conf[:, 1:].sum(0) - inter
    nz = union > 0
    J[nz] = inter[nz] / union[nz]
    ids = [int(k) for k in np.flatnonzero(nz) + 1]
    pb = _boundary_points_in(pred, box, ids)
    gb = _boundary_points_in(gt, box, ids)
    for k in ids:
        F[k - 1] = f_from_points(pb[k], gb[k], r)
    return J, F


def f_measure_reference(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008, dilate=None) -> float:
    """The toolkit's ``db_eval_boundary`` for one object, literally (slow; tests and benchmarks).

    Args:
        dilate: ``f(boundary, disk) -> bool array``; default ``scipy.ndimage.binary_dilation``
            (the toolkit uses ``cv2.dilate``: the same result).
    """
    from scipy.ndimage import binary_dilation
    from skimage.morphology import disk

    r = bound_radius(gt.shape, bound_th)
    se = disk(r)
    fb, gb = boundary_map(pred), boundary_map(gt)
    if dilate is None:
        def dilate(b, s):
            return binary_dilation(b, structure=s)
    fd = dilate(fb, se)
    gd = dilate(gb, se)
    n_fg, n_gt = fb.sum(), gb.sum()
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = np.sum(fb & gd) / n_fg
        recall = np.sum(gb & fd) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
