"""Classic ERF, Captum saliency and the map metrics."""

from __future__ import annotations

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
    tiny_model.segment(q, mem)[0, 1, y, x].backward()
    assert torch.allclose(rq.maps[0], q.grad[0].abs().sum(0), atol=1e-6)


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
    assert all(v == pytest.approx(1 / (21 * 31)) for v in ratios.values())  # a 1x1 square holds it all
    b = np.ones((20, 20))
    r = high_contribution_area_ratio(b, (0, 0), (0.2, 0.99))
    assert 0 < r[0.2] < r[0.99] <= 1.0  # clipped at the image border, never above 1
    zero = high_contribution_area_ratio(np.zeros((5, 5)), (2, 2))
    assert all(np.isnan(v) for v in zero.values())  # never reached: nan, no crash
    assert all(np.isnan(v) for v in high_contribution_area_ratio(b, None).values())


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
    f(q).sum().backward()
    assert torch.allclose(maps[1], q.grad[0].abs().sum(0), atol=1e-6)
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
