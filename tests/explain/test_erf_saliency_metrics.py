"""Classic ERF, Captum saliency and the map metrics."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from erfkit.explain.erf import (centred_average, classic_erf, erf_display, high_contribution_area_ratio,
                                object_centroid)
from erfkit.explain.metrics import (auc, basic_metrics, deletion_insertion, energy_inside, pointing_game,
                                    randomized_model, sanity_similarity)
from erfkit.explain.attribution import SALIENCY_METHODS, ObjectScore, SaliencyConfig, saliency


@pytest.fixture(scope="module")
def scene():
    g = torch.Generator().manual_seed(1)
    H, W = 48, 64
    query, memory = torch.rand(1, 3, H, W, generator=g), torch.rand(1, 3, H, W, generator=g)
    mask = torch.zeros(1, 3, H, W)
    mask[0, 1, 8:20, 8:24] = 1
    mask[0, 2, 28:40, 36:56] = 1
    mask[0, 0] = 1 - mask[0, 1:].sum(0)
    regions = [mask[0, 1] > 0, mask[0, 2] > 0]
    return query, memory, mask, regions


# ------------------------------------------------------------------ classic ERF
def test_erf_wrt_query_and_memory(tiny_model, scene):
    query, memory, mask, regions = scene
    units = [object_centroid(r) for r in regions]
    rq = classic_erf(tiny_model, query, memory, mask, units, wrt="query")
    rm = classic_erf(tiny_model, query, memory, mask, units, wrt="memory", reduction="positive")
    for r in (rq, rm):
        assert r.maps.shape == (2, 48, 64) and (r.maps >= 0).all() and r.maps.sum() > 0
    # the query ERF of a unit is the gradient of that unit: check one pixel by hand
    q = query.clone().requires_grad_(True)
    with torch.no_grad():
        mem = tiny_model.memorize(memory, mask)
    y, x = units[0]
    (grad,) = torch.autograd.grad(tiny_model.object_logits(q, mem)[0, 0, y, x], q)  # the frame's only (a shared model)
    assert torch.allclose(rq.maps[0], grad[0].abs().sum(0), atol=1e-6)
    # where nothing saturates, that is the gradient of the soft-aggregated logit too
    q2 = query.clone().requires_grad_(True)
    (grad2,) = torch.autograd.grad(tiny_model.segment(q2, mem)[0, 1, y, x], q2)
    assert torch.allclose(grad, grad2, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("wrt", ["query", "memory"])
def test_erf_of_a_confident_model_is_not_empty(tiny_model, scene, wrt):
    """Saturated probabilities: the clamped aggregated logit has zero gradient, the unclamped logit does not."""
    query, memory, mask, regions = scene
    confident = copy.deepcopy(tiny_model)
    with torch.no_grad():
        confident.Decoder.pred2.weight.mul_(1e4)
        confident.Decoder.pred2.bias.mul_(1e4)
    units = [object_centroid(r) for r in regions]
    q = query.clone().requires_grad_(True)
    m = memory.clone().requires_grad_(True)
    logits = confident.object_logits(q, confident.memorize(m, mask))
    assert all(logits[0, k, y, x].abs() > 20 for k, (y, x) in enumerate(units))  # far beyond the clamp
    # what classic ERF differentiated before: channel k+1 of the clamped soft aggregation, all zero here
    seg = confident.segment(q, confident.memorize(m, mask))
    for k, (y, x) in enumerate(units):
        grads = torch.autograd.grad(seg[0, k + 1, y, x], (q, m), retain_graph=True, allow_unused=True)
        assert all(g is None or not g.any() for g in grads)
    r = classic_erf(confident, query, memory, mask, units, wrt=wrt)
    assert torch.isfinite(r.maps).all()
    assert all(r.maps[k].sum() > 0 for k in range(2))
    # the segmentation itself is untouched by the ERF
    with torch.no_grad():
        before = confident.segment(query, confident.memorize(memory, mask))
    classic_erf(confident, query, memory, mask, units, wrt=wrt)
    with torch.no_grad():
        assert torch.equal(before, confident.segment(query, confident.memorize(memory, mask)))


def test_erf_skips_absent_objects(tiny_model, scene):
    query, memory, mask, _ = scene
    r = classic_erf(tiny_model, query, memory, mask, [None, (30, 40)])
    assert r.maps[0].abs().sum() == 0 and r.maps[1].sum() > 0


def test_display_and_area_ratio():
    a = np.zeros((21, 31))
    a[10, 15] = 4.0
    d = erf_display(a)
    assert d.max() == 1.0 and d[10, 15] == 1.0 and d.sum() == 1.0
    ratios = high_contribution_area_ratio(a, (10, 15))
    assert all(v == pytest.approx(9 / (21 * 31)) for v in ratios.values())  # squares start at side 3
    b = np.ones((20, 20))
    r = high_contribution_area_ratio(b, (0, 0), (0.2, 0.99))
    assert 0 < r[0.2] < r[0.99] <= 1.0  # clipped at the image border, never above 1
    zero = high_contribution_area_ratio(np.zeros((5, 5)), (2, 2))
    assert all(np.isnan(v) for v in zero.values())  # never reached: nan, no crash
    assert all(np.isnan(v) for v in high_contribution_area_ratio(b, None).values())
    assert np.isnan(high_contribution_area_ratio(b, (3, 3), (1.0,))[1.0])  # share > 1 never holds
    with pytest.raises(ValueError, match="outside"):
        high_contribution_area_ratio(b, (20, 3))


def _replknet_area_ratio(data: np.ndarray, thresh: float) -> float | None:
    """RepLKNet's definition (erf/analyze_erf.py), written out independently: image-centred squares."""
    data = np.log10(data + 1)
    data = data / np.max(data)
    h, w = data.shape
    total = np.sum(data)
    for i in range(1, h // 2):
        side = 2 * i + 1
        part = np.sum(data[h // 2 - i:h // 2 + i + 1, w // 2 - i:w // 2 + i + 1])
        if part / total > thresh:
            return side * side / (h * w)
    return None


def _erf_like(seed: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    blob = np.exp(-((yy - h // 2) ** 2 + (xx - w // 2) ** 2) / (2 * (h / 8) ** 2))
    return 50 * blob * rng.random((h, w)) + rng.random((h, w))


@pytest.mark.parametrize("h, w, seed", [(64, 64, 0), (65, 65, 1), (48, 80, 2)])
def test_area_ratio_is_replknets(h, w, seed):
    data = _erf_like(seed, h, w)
    ours = high_contribution_area_ratio(data, (h // 2, w // 2))
    for t in (0.2, 0.3, 0.5, 0.99):
        ref = _replknet_area_ratio(data, t)
        if ref is not None:
            assert ours[t] == pytest.approx(ref, rel=1e-12), t


def test_area_ratio_pinned():
    """Numbers of the independent implementation above, on one map; the old definition gave others."""
    data = _erf_like(0, 64, 64)
    ours = high_contribution_area_ratio(data, (32, 32))
    pinned = {0.2: 17 ** 2 / 64 ** 2, 0.3: 21 ** 2 / 64 ** 2, 0.5: 31 ** 2 / 64 ** 2}  # the old code: 9, 15, 21
    assert {t: _replknet_area_ratio(data, t) for t in pinned} == pytest.approx(pinned, rel=1e-12)
    assert {t: ours[t] for t in pinned} == pytest.approx(pinned, rel=1e-12)
    # RepLKNet's script stops at side 63 (None); the square grows on to the whole image
    assert _replknet_area_ratio(data, 0.99) is None and ours[0.99] == 1.0
    # threshold exactly met is not enough (strict >); a 1x1 square is never used
    ring = np.zeros((9, 9))
    ring[4, 4] = 1.0
    ring[2, 4] = 1.0  # half the mass at the centre, half two rows up
    r = high_contribution_area_ratio(ring, (4, 4), (0.5,))
    assert r[0.5] == pytest.approx(25 / 81) == _replknet_area_ratio(ring, 0.5)


def test_centred_average_puts_units_in_the_middle():
    m1, m2 = np.zeros((5, 7)), np.zeros((5, 7))
    m1[0, 0] = 1
    m2[4, 6] = 1
    avg = centred_average([m1, m2], [(0, 0), (4, 6)])
    assert avg.shape == (9, 13) and avg[4, 6] == 1.0


# --------------------------------------------------------------------- saliency
@pytest.mark.parametrize("method", SALIENCY_METHODS)
@pytest.mark.parametrize("wrt", ["query", "memory"])
def test_every_captum_method_in_both_directions(tiny_model, scene, method, wrt):
    query, memory, mask, regions = scene
    cfg = SaliencyConfig(ig_steps=4, smoothgrad_samples=3, occlusion_window=16, occlusion_stride=16)
    maps = saliency(tiny_model, method, query, memory, mask, regions, wrt=wrt, config=cfg)
    assert maps.shape == (2, 48, 64)
    assert torch.isfinite(maps).all() and (maps >= 0).all() and maps.sum() > 0


def test_saliency_is_the_gradient_of_the_documented_scalar(tiny_model, scene):
    query, memory, mask, regions = scene
    maps = saliency(tiny_model, "saliency", query, memory, mask, regions, wrt="query")
    f = ObjectScore(tiny_model, 1, regions[1], mask, "query", memory)
    q = query.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(q).sum(), q)  # the frame's only: the model is shared by the tests
    assert torch.allclose(maps[1], grad[0].abs().sum(0), atol=1e-6)
    # the region is fixed: the score of a frame is its logit summed inside the object's region
    with torch.no_grad():
        logit = tiny_model.object_logits(query, tiny_model.memorize(memory, mask))[0, 1]
        assert f(query).item() == pytest.approx(logit[regions[1]].sum().item(), rel=1e-5)


def test_unknown_method(tiny_model, scene):
    query, memory, mask, regions = scene
    with pytest.raises(Exception, match="unknown saliency method"):
        saliency(tiny_model, "lime", query, memory, mask, regions)


# ---------------------------------------------------------------------- metrics
def test_energy_and_pointing():
    mask = np.zeros((10, 10), bool)
    mask[2:5, 2:5] = True
    m = np.zeros((10, 10))
    m[3, 3], m[8, 8] = 3.0, 1.0
    assert energy_inside(m, mask) == pytest.approx(0.75)
    assert pointing_game(m, mask) == 1.0
    m2 = np.zeros((10, 10))
    m2[9, 9] = 1.0
    assert pointing_game(m2, mask, tolerance=2) == 0.0
    assert pointing_game(m2, mask, tolerance=8) == 1.0  # (9, 9) is 7.07 from (4, 4)
    assert np.isnan(energy_inside(np.zeros((10, 10)), mask))
    assert np.isnan(pointing_game(m, np.zeros((10, 10), bool)))
    assert set(basic_metrics(m, mask)) == {"energy", "pointing", "area50"}


def test_auc_and_deletion_insertion():
    assert auc([1, 1, 1]) == 1.0 and auc([1, 0]) == 0.5 and auc([0, 0.5, 1.0]) == 0.5
    img = torch.rand(1, 3, 8, 8)
    important = np.zeros((8, 8))
    important[:2] = 1.0  # the map ranks the top rows first

    def score(frames):  # the "model" only looks at the top two rows
        return frames[:, :, :2].mean((1, 2, 3)) / img[:, :, :2].mean()

    d, i, dc, ic = deletion_insertion(important, img, score, steps=4)
    d_bad, i_bad, _, _ = deletion_insertion(-important, img, score, steps=4)
    assert dc[0] == pytest.approx(1.0) and dc[-1] == 0.0 and len(dc) == 5
    assert d < d_bad and i > i_bad  # a faithful map deletes fast and inserts fast


def test_sanity_similarity_and_randomisation(tiny_model):
    rng = np.random.default_rng(0)
    a = rng.random((40, 40))
    assert sanity_similarity(a, a) == pytest.approx(1.0)
    assert abs(sanity_similarity(a, rng.random((40, 40)))) < 0.2
    assert np.isnan(sanity_similarity(np.zeros((8, 8)), a[:8, :8]))
    rnd = randomized_model(tiny_model, seed=0)
    assert not torch.equal(rnd.Decoder.pred2.weight, tiny_model.Decoder.pred2.weight)
    assert torch.equal(randomized_model(tiny_model, seed=0).Decoder.pred2.weight, rnd.Decoder.pred2.weight)


def test_randomisation_is_the_same_in_concurrent_threads(tiny_model):
    """explain_dataset's worker threads randomise their models at once; torch's one global generator made their
    weights depend on timing (the sanity column of a resumed table differed from an uninterrupted one)."""
    from concurrent.futures import ThreadPoolExecutor

    ref = randomized_model(tiny_model, seed=0).state_dict()
    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda _: randomized_model(tiny_model, seed=0), range(8)))
    for m in models:
        assert all(torch.equal(ref[k], v) for k, v in m.state_dict().items())
