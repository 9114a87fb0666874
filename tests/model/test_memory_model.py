"""The memory-model interface: what every model family must pass (docs/model-families.md lists these tests).

Each test runs on every family (a small random model of each); a new family
adds its tiny preset to ``FAMILIES``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from erfkit import VideoPredictor
from erfkit.model import build_model
from erfkit.model.memory_model import MemoryModel, soft_aggregate

FAMILIES = {"stm": "stm-tiny", "xmem": "xmem-tiny"}
H, W = 40, 72  # not a multiple of 16: the families pad and crop themselves
K = 2


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def model(request) -> MemoryModel:
    m = build_model(FAMILIES[request.param], seed=0).double().eval()
    for p in m.parameters():  # random weights well away from zero, so every path carries signal
        p.requires_grad_(False)
    return m


def _frames(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 3, H, W), generator=g, dtype=torch.float64)


def _masks(n: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn((n, K + 1, H, W), generator=g, dtype=torch.float64), 1)


def test_family_names_its_propagator(model):
    assert isinstance(model, MemoryModel)
    assert model.family in FAMILIES
    p = VideoPredictor(model)
    assert f"{type(p).__module__}:{type(p).__name__}" == model.propagator


def test_shapes_and_padding(model):
    x, y = _frames(3), _masks(3)
    mem = model.memorize(x, y)
    q = model.encode_query(_frames(1, seed=5))
    assert (mem.batch, mem.num_frames, mem.num_objects) == (3, 1, K)
    assert mem.grid == q.grid == (3, 5)  # 40x72 padded to 48x80
    assert model.object_logits(q, mem).shape == (3, K, H, W)
    assert model.segment(q, mem).shape == (3, K + 1, H, W)
    w = model.memory_weights(mem, q.expand(3))
    assert w.shape == (3, K, 1 * 3 * 5, 3 * 5)
    torch.testing.assert_close(w.sum(2), torch.ones(3, K, 15, dtype=w.dtype))


def test_segment_is_soft_aggregation_of_object_logits(model):
    mem = model.memorize(_frames(1), _masks(1))
    x = _frames(1, seed=4)
    logits = model.object_logits(x, mem)
    torch.testing.assert_close(model.segment(x, mem), soft_aggregate(torch.sigmoid(logits)), rtol=0, atol=1e-12)


def test_stem_and_cached_query_change_nothing(model):
    x, y, t = _frames(2), _masks(2), _frames(1, seed=7)
    direct = model.object_logits(t.expand(2, -1, -1, -1), model.memorize(x, y))
    cached = model.object_logits(model.encode_query(t), model.memorize(x, y, stem=model.memory_stem(x)))
    torch.testing.assert_close(cached, direct, rtol=0, atol=1e-12)


def test_batch_elements_are_independent(model):
    x, y, t = _frames(3), _masks(3), _frames(1, seed=7)
    q = model.encode_query(t)
    together = model.object_logits(q, model.memorize(x, y))
    for i in range(3):
        alone = model.object_logits(q, model.memorize(x[i:i + 1], y[i:i + 1]))
        torch.testing.assert_close(together[i:i + 1], alone, rtol=0, atol=1e-12)


def test_select_without_and_expand(model):
    x, y, t = _frames(2), _masks(2), _frames(1, seed=7)
    q = model.encode_query(t)
    one = model.memorize(x[:1], y[:1])
    full = model.object_logits(q, one)
    torch.testing.assert_close(model.object_logits(q, one.select([1])), full[:, 1:], rtol=0, atol=1e-12)
    torch.testing.assert_close(model.object_logits(q, one.expand(3)), full.expand(3, -1, -1, -1), rtol=0,
                               atol=1e-12)
    # XMem's sensory memory is the latest frame's, and stays when a frame is left out
    two = type(one).cat([model.memorize(x[1:], y[1:]), one])
    assert two.num_frames == 2
    torch.testing.assert_close(model.object_logits(q, two.without(0)), full, rtol=0, atol=1e-12)


def test_the_mask_reaches_the_output_with_a_gradient(model):
    x, t = _frames(1), _frames(1, seed=7)
    q = model.encode_query(t)
    y = torch.zeros((1, K + 1, H, W), dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        model.object_logits(q, model.memorize(x, y)).sum().backward()
    assert y.grad is not None and float(y.grad[:, 1:].abs().sum()) > 0


def test_memorising_alone_is_a_two_frame_video(model):
    """``segment(t, memorize(l, y_l))`` is what the family's own predictor gives on the video ``(l, t)``."""
    frames = (_frames(2, seed=11) * 255).round() / 255  # as uint8 frames arrive
    labels = np.zeros((H, W), np.uint8)
    labels[5:25, 10:40], labels[20:38, 45:70] = 1, 2
    predictor = VideoPredictor(model, **({"size": "native"} if model.family == "stm" else {}))
    predictor.step(frames[0], labels)
    out = predictor.step(frames[1])
    hot = torch.from_numpy(np.stack([labels == k for k in (0, 1, 2)]))[None].double()
    # XMem memorises a given mask after its soft aggregation, STM as it is
    given = torch.softmax(soft_aggregate(hot[:, 1:]), 1) if model.family == "xmem" else hot
    ours = model.segment(frames[1:], model.memorize(frames[:1], given)).softmax(1)[0]
    torch.testing.assert_close(ours, out, rtol=0, atol=1e-10)


@pytest.mark.parametrize("side", ["query", "memory"])
def test_attribution_layer_is_a_2d_feature_map_of_its_side(model, side):
    """Grad-CAM reads the layer as ``[rows, C, h, w]`` channels; it must see the frame attributed."""
    x, y, t = _frames(1), _masks(1), _frames(1, seed=7)
    outputs = []
    layer = model.get_submodule(model.attribution_layer(side))
    hook = layer.register_forward_hook(lambda m, i, o: outputs.append(o))
    try:
        for frame in (x, x.flip(-1)):  # two versions of the side's frame
            model.object_logits(frame if side == "query" else t, model.memorize(t if side == "query" else frame, y))
    finally:
        hook.remove()
    assert outputs[0].ndim == 4 and outputs[0].shape[-2:] in ((6, 10), (12, 20), (3, 5))  # stride 8 or 4 (or 16)
    assert not torch.equal(outputs[0], outputs[-1])
