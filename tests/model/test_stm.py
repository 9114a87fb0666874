"""The STM: shapes for every preset, any frame size, soft aggregation, batching equivalences."""

from __future__ import annotations

import pytest
import torch

from erfkit.model import MODEL_PRESETS, Memory, build_model, soft_aggregate
from erfkit.model.stm import pad_to_multiple


def _masks(B: int, K: int, H: int, W: int) -> torch.Tensor:
    m = torch.zeros(B, K + 1, H, W)
    for k in range(K):
        m[:, k + 1, 4 + 6 * k: 14 + 6 * k, 5 + 8 * k: 20 + 8 * k] = 1
    m[:, 0] = 1 - m[:, 1:].sum(1).clamp(max=1)
    return m


@pytest.mark.parametrize("name", sorted(MODEL_PRESETS))
def test_every_preset_memorize_and_segment_shapes(name):
    model = build_model(name, seed=0)
    cfg = MODEL_PRESETS[name]
    B, K, H, W = 2, 3, 48, 80
    frame = torch.rand(B, 3, H, W)
    with torch.no_grad():
        mem = model.memorize(frame, _masks(B, K, H, W))
        assert mem.keys.shape == (B, K, cfg.keydim, 1, H // 16, W // 16)
        assert mem.values.shape == (B, K, cfg.valdim, 1, H // 16, W // 16)
        logits = model.segment(frame, Memory.cat([mem, mem]))
    assert logits.shape == (B, K + 1, H, W)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("size", [(37, 61), (64, 112), (50, 50), (17, 33)])
def test_any_frame_size_comes_back_at_that_size(tiny_model, size):
    H, W = size
    frame = torch.rand(1, 3, H, W)
    with torch.no_grad():
        mem = tiny_model.memorize(frame, _masks(1, 1, H, W))
        out = tiny_model.segment(frame, mem)
    assert out.shape == (1, 2, H, W)


def test_padding_is_centred_and_cropped_back():
    x = torch.arange(5 * 7, dtype=torch.float32).view(1, 1, 5, 7)
    y, pad = pad_to_multiple(x, 4)
    assert y.shape[-2:] == (8, 8)
    left, right, top, bottom = pad
    assert (left, right, top, bottom) == (0, 1, 1, 2)
    assert torch.equal(y[..., top:8 - bottom, left:8 - right], x)


def test_soft_aggregation_gives_a_distribution():
    probs = torch.rand(2, 4, 9, 11)
    logits = soft_aggregate(probs)
    dist = logits.softmax(1)
    assert torch.allclose(dist.sum(1), torch.ones(2, 9, 11), atol=1e-6)
    # the background channel before normalisation is prod(1 - p)
    q = torch.sigmoid(logits)
    assert torch.allclose(q[:, 0], torch.prod(1 - probs, 1).clamp(1e-7, 1 - 1e-7), atol=1e-5)
    # an empty slot takes no probability
    valid = torch.tensor([[True, True, False, True]] * 2)
    d2 = soft_aggregate(probs, valid).softmax(1)
    assert d2[:, 3].max() < 1e-5


def test_batched_objects_equal_one_by_one(tiny_model):
    """Each object decoded in a batch of objects equals that object decoded alone."""
    torch.manual_seed(1)
    B, K, H, W = 1, 3, 48, 64
    frame, query = torch.rand(B, 3, H, W), torch.rand(B, 3, H, W)
    masks = _masks(B, K, H, W)
    with torch.no_grad():
        together = tiny_model.object_probabilities(query, tiny_model.memorize(frame, masks))
        for k in range(K):
            single = torch.stack([1 - masks[:, k + 1], masks[:, k + 1]], 1)
            alone = tiny_model.object_probabilities(query, tiny_model.memorize(frame, single))
            assert torch.allclose(together[:, k], alone[:, 0], atol=1e-5)


def test_other_objects_input_couples_objects():
    """With the original STM's third input (union of the other objects), objects see each other."""
    model = build_model("stm-tiny", seed=0, extra_input="other")
    assert hasattr(model.Encoder_M, "conv1_o") and not hasattr(model.Encoder_M, "conv1_bg")
    B, K, H, W = 1, 2, 32, 48
    frame = torch.rand(B, 3, H, W)
    masks = _masks(B, K, H, W)
    with torch.no_grad():
        both = model.memorize(frame, masks).keys[:, 0]
        alone = model.memorize(frame, torch.stack([1 - masks[:, 1], masks[:, 1]], 1)).keys[:, 0]
    assert not torch.allclose(both, alone)


def test_batched_frames_equal_one_by_one(tiny_model):
    B, K, H, W = 3, 2, 32, 48
    frames, masks = torch.rand(B, 3, H, W), _masks(B, K, H, W)
    with torch.no_grad():
        batched = tiny_model.segment(frames, tiny_model.memorize(frames, masks))
        for b in range(B):
            one = tiny_model.segment(frames[b:b + 1], tiny_model.memorize(frames[b:b + 1], masks[b:b + 1]))
            assert torch.allclose(batched[b:b + 1], one, atol=1e-5)


def test_cached_query_features_equal_recomputed(tiny_model):
    H, W = 40, 56
    f0, f1 = torch.rand(1, 3, H, W), torch.rand(1, 3, H, W)
    with torch.no_grad():
        mem = tiny_model.memorize(f0, _masks(1, 2, H, W))
        q = tiny_model.encode_query(f1)
        assert torch.equal(tiny_model.segment(q, mem), tiny_model.segment(f1, mem))
        stem = tiny_model.memory_stem(f0)
        assert torch.equal(tiny_model.memorize(f0, _masks(1, 2, H, W), stem=stem).keys, mem.keys)


def test_time_mask_hides_memory_frames(tiny_model):
    H, W = 32, 48
    f = torch.rand(1, 3, H, W)
    with torch.no_grad():
        m1 = tiny_model.memorize(f, _masks(1, 1, H, W))
        m2 = tiny_model.memorize(torch.rand(1, 3, H, W), _masks(1, 1, H, W))
        both = Memory.cat([m1, m2])
        hidden = Memory(both.keys, both.values, torch.tensor([[[True, False]]]))
        assert torch.allclose(tiny_model.segment(f, hidden), tiny_model.segment(f, m1), atol=1e-5)


def test_mismatched_sizes_are_refused(tiny_model):
    with pytest.raises(ValueError, match="differ in size"):
        tiny_model.memorize(torch.rand(1, 3, 32, 32), torch.rand(1, 2, 16, 16))
    with torch.no_grad():
        mem = tiny_model.memorize(torch.rand(1, 3, 32, 32), _masks(1, 1, 32, 32))
        with pytest.raises(ValueError, match="different sizes"):
            tiny_model.segment(torch.rand(1, 3, 64, 64), mem)


def test_resnet_parameter_names_follow_torchvision():
    from erfkit.model.resnet import BACKBONES, ResNet

    names = set(ResNet(BACKBONES["resnet50"]).state_dict())
    for key in ("conv1.weight", "bn1.running_var", "layer1.0.conv3.weight", "layer1.0.downsample.0.weight",
                "layer1.0.downsample.1.num_batches_tracked", "layer4.2.bn3.bias"):
        assert key in names
    r18 = set(ResNet(BACKBONES["resnet18"]).state_dict())
    assert "layer2.0.downsample.0.weight" in r18 and "layer1.1.conv2.weight" in r18
    assert not any(k.startswith("layer1.0.downsample") for k in r18)


def test_mirrored_encoders_give_a_frame_its_query_keys_whatever_its_masks():
    model = build_model("stm-tiny", seed=0).double()
    frame = torch.rand(1, 3, 64, 96, dtype=torch.float64)
    masks = _masks(1, 2, 64, 96).double()
    with torch.no_grad():
        query = model.encode_query(frame).key  # [1, Ck, h, w]
        before = model.memorize(frame, masks).keys  # [1, K, Ck, 1, h, w]
        assert not torch.allclose(before[0, 0, :, 0], query[0])
        model.mirror_encoders()
        after = model.memorize(frame, masks).keys
        empty = model.memorize(frame, torch.zeros_like(masks)).keys
    for k in range(2):
        torch.testing.assert_close(after[0, k, :, 0], query[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(after, empty, rtol=1e-12, atol=1e-12)
    # the query path is left as it was, and the mask convolutions start at zero
    assert model.Encoder_M.conv1_m.weight.abs().sum() == 0
    torch.testing.assert_close(model.encode_query(frame).key, query, rtol=0, atol=0)
