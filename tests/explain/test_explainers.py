"""The explainer interface: each class equals the functional call it wraps (as the atlas computes its maps)."""

from __future__ import annotations

import json

import pytest
import torch

from erfkit.errors import ConfigError
from erfkit.explain import (CycleERF, SALIENCY_EXPLAINERS, SALIENCY_METHODS, CaptumExplainer,
                            ClassicERF, CycleERFConfig, Explainer, Explanation, GradCAM, Gradient, SaliencyConfig,
                            classic_erf, cycle_erf, explainer_for, object_centroid, saliency)
from erfkit.explain.keys import CYCLE, MapKey
from erfkit.model import build_model

L, K, H, W = 2, 2, 32, 48
SAL = SaliencyConfig(ig_steps=3, ig_batch=3, smoothgrad_samples=2, occlusion_window=16, occlusion_stride=16)


@pytest.fixture(scope="module")
def model64():
    return build_model("stm-tiny", seed=3).double()


@pytest.fixture(scope="module")
def scene():
    """``frames [L, 3, H, W]``, ``x_t [1, 3, H, W]``, ``y_t [1, K+1, H, W]``, ``y_l [L, K+1, H, W]`` (float64)."""
    g = torch.Generator().manual_seed(2)
    frames = torch.rand(L, 3, H, W, generator=g, dtype=torch.float64)
    x_t = torch.rand(1, 3, H, W, generator=g, dtype=torch.float64)

    def onehot(boxes):
        m = torch.zeros(K + 1, H, W, dtype=torch.float64)
        for k, (y0, y1, x0, x1) in enumerate(boxes):
            m[k + 1, y0:y1, x0:x1] = 1
        m[0] = 1 - m[1:].sum(0)
        return m

    y_t = onehot([(4, 14, 6, 20), (18, 28, 24, 40)])[None]
    y_l = torch.stack([onehot([(6, 16, 8, 22), (16, 26, 20, 38)]),
                       onehot([(2, 10, 4, 12), (0, 0, 0, 0)])])  # object 2 absent from frame 1
    return frames, x_t, y_t, y_l


def _check(e: Explanation, key: MapKey):
    assert isinstance(e, Explanation) and e.key == key
    assert e.maps.shape == (L, K, H, W) and (e.maps >= 0).all()
    assert e.settings and json.loads(json.dumps(e.settings)) == e.settings


# ------------------------------------------------------------------ cycle-ERF
def test_cycle_erf_explainer_equals_cycle_erf(model64, scene):
    frames, x_t, y_t, y_l = scene
    cfg = CycleERFConfig(steps=3, batch_size=1)
    e = CycleERF(model64, cfg).attribute(frames, x_t, y_t)  # needs no frame masks
    ref = cycle_erf(model64, frames, x_t, y_t, cfg)
    _check(e, CYCLE)
    assert torch.equal(e.maps, ref.maps) and e.maps.sum() > 0
    assert torch.equal(e.extras["losses"], ref.losses) and torch.equal(e.extras["masks"], ref.masks)
    assert e.settings == {"steps": 3, "rate": 180.0, "gamma": 1.0, "bootstrap": 0.4}
    # the atlas's per-frame call
    assert torch.equal(e.maps[1], cycle_erf(model64, frames[1:2], x_t, y_t, cfg).maps[0])
    calls = []
    CycleERF(model64, cfg).attribute(frames, x_t, y_t, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 2), (2, 2)]


# ------------------------------------------------------------------ classic ERF
@pytest.mark.parametrize("wrt", ["query", "memory"])
def test_classic_erf_explainer_equals_classic_erf(model64, scene, wrt):
    frames, x_t, y_t, y_l = scene
    e = ClassicERF(model64, wrt, "positive").attribute(frames, x_t, y_t, frame_masks=y_l)
    _check(e, MapKey.erf(wrt))
    assert e.settings["wrt"] == wrt and e.settings["reduction"] == "positive"
    for l in range(L):
        if wrt == "query":
            units = [object_centroid(y_l[l, k + 1] > 0.5) for k in range(K)]
            ref = classic_erf(model64, frames[l:l + 1], x_t, y_t, units, wrt="query", reduction="positive")
        else:
            units = [object_centroid(y_t[0, k + 1] > 0.5) for k in range(K)]
            ref = classic_erf(model64, x_t, frames[l:l + 1], y_l[l:l + 1], units, wrt="memory", reduction="positive")
        assert torch.equal(e.maps[l], ref.maps)
        assert e.extras["units"][l].tolist() == [list(u) if u else [-1, -1] for u in units]
    if wrt == "query":  # object 2 is absent from frame 1: no unit, zero map
        assert e.extras["units"][1, 1].tolist() == [-1, -1] and not e.maps[1, 1].any()
    assert e.maps.sum() > 0


def test_regions_can_be_given_instead_of_masks(model64, scene):
    frames, x_t, y_t, y_l = scene
    regions = y_l[:, 1:] > 0.5
    a = ClassicERF(model64, "query").attribute(frames, x_t, y_t, frame_regions=regions)
    b = ClassicERF(model64, "query").attribute(frames, x_t, y_t, frame_masks=y_l)
    assert torch.equal(a.maps, b.maps)
    # the target's regions decide the memory-side units
    moved = torch.zeros(K, H, W, dtype=torch.bool)
    moved[:, 20, 30] = True
    c = ClassicERF(model64, "memory").attribute(frames, x_t, y_t, frame_masks=y_l, target_regions=moved)
    assert (c.extras["units"] == torch.tensor([20, 30])).all()


@pytest.mark.parametrize("make", [lambda m: ClassicERF(m, "memory"), lambda m: Gradient(m, "memory"),
                                  lambda m: ClassicERF(m, "query"), lambda m: Gradient(m, "query")])
def test_missing_frame_masks_raise(model64, scene, make):
    frames, x_t, y_t, _ = scene
    with pytest.raises(ValueError, match="needs frame_"):
        make(model64).attribute(frames, x_t, y_t)


def test_bad_shapes_and_settings_raise(model64, scene):
    frames, x_t, y_t, y_l = scene
    with pytest.raises(ValueError, match="frame_masks"):
        ClassicERF(model64, "memory").attribute(frames, x_t, y_t, frame_masks=y_l[:1])
    with pytest.raises(ValueError, match="target_frame"):
        CycleERF(model64).attribute(frames, x_t[..., :-1], y_t)
    with pytest.raises(ConfigError):
        ClassicERF(model64, "side")
    with pytest.raises(ConfigError):
        ClassicERF(model64, "query", "square")
    with pytest.raises(ConfigError):
        GradCAM(model64, "side")


# ------------------------------------------------------------------ saliency
def test_the_registry_covers_every_saliency_method(model64):
    assert set(SALIENCY_EXPLAINERS) == set(SALIENCY_METHODS)
    for name, cls in SALIENCY_EXPLAINERS.items():
        assert issubclass(cls, CaptumExplainer) and issubclass(cls, Explainer) and cls.method == name
        assert cls(model64, "memory").key == MapKey.saliency(name, "memory")
    with pytest.raises(ConfigError, match="unknown saliency method"):
        explainer_for(model64, MapKey.saliency("lime", "query"))


@pytest.mark.parametrize("method", SALIENCY_METHODS)
@pytest.mark.parametrize("wrt", ["query", "memory"])
def test_saliency_explainer_equals_saliency(model64, scene, method, wrt):
    frames, x_t, y_t, y_l = scene
    torch.manual_seed(7)  # SmoothGrad's noise
    e = SALIENCY_EXPLAINERS[method](model64, wrt, SAL).attribute(frames, x_t, y_t, frame_masks=y_l)
    _check(e, MapKey.saliency(method, wrt))
    assert e.settings["method"] == method and e.settings["wrt"] == wrt
    torch.manual_seed(7)
    for l in range(L):
        if wrt == "query":
            ref = saliency(model64, method, frames[l:l + 1], x_t, y_t, [y_l[l, k + 1] > 0.5 for k in range(K)],
                           wrt="query", config=SAL)
        else:
            ref = saliency(model64, method, x_t, frames[l:l + 1], y_l[l:l + 1], [y_t[0, k + 1] > 0.5 for k in range(K)],
                           wrt="memory", config=SAL)
        assert torch.equal(e.maps[l], ref)
    assert e.maps.sum() > 0


def test_saliency_settings_name_what_decides_the_maps(model64):
    ig = SALIENCY_EXPLAINERS["integrated_gradients"](model64, "query", SAL)
    assert ig.settings == {"method": "integrated_gradients", "wrt": "query", "ig_steps": 3}
    assert SALIENCY_EXPLAINERS["occlusion"](model64, "memory", SAL).settings == {
        "method": "occlusion", "wrt": "memory", "occlusion_window": 16, "occlusion_stride": 16}
    assert Gradient(model64).settings == {"method": "saliency", "wrt": "query"}


# ------------------------------------------------------------------ factory
def test_explainer_for_every_key(model64):
    cfg = CycleERFConfig(steps=2)
    keys = [CYCLE, MapKey.erf("query"), MapKey.erf("memory")]
    keys += [MapKey.saliency(m, w) for m in SALIENCY_METHODS for w in ("query", "memory")]
    for key in keys:
        ex = explainer_for(model64, key, cycle=cfg, reduction="positive", saliency=SAL)
        assert isinstance(ex, Explainer) and ex.key == key
    assert explainer_for(model64, CYCLE, cycle=cfg).config == cfg
    assert explainer_for(model64, MapKey.erf("memory"), reduction="positive").reduction == "positive"
    assert explainer_for(model64, MapKey.saliency("gradcam", "query"), saliency=SAL).config == SAL
    assert type(explainer_for(model64, MapKey.saliency("saliency", "query"))) is Gradient
    assert explainer_for(model64, CYCLE).config == CycleERFConfig()
