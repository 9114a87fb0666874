"""XMem: shapes of every operation, the memory read's maths, the released format, erfkit info."""

from __future__ import annotations

import collections
import json
import math
import os

import pytest
import torch

from erfkit.errors import CheckpointError, ConfigError
from erfkit.model import MODEL_PRESETS, XMEM_PRESETS, XMem, XMemConfig, build_model
from erfkit.model import xmem_memory_ops as ops
from erfkit.model.checkpoint import load_checkpoint, save_checkpoint
from erfkit.model.xmem import unpad

B, K, H, W = 2, 3, 48, 80
h, w = H // 16, W // 16


@pytest.fixture(scope="module")
def tiny() -> XMem:
    return build_model("xmem-tiny", seed=0)


@pytest.fixture(scope="module")
def released(tmp_path_factory, tiny) -> tuple[str, dict[str, torch.Tensor]]:
    """``xmem-tiny`` saved as XMem releases its weights: ``torch.save`` of a bare state dict."""
    g = torch.Generator().manual_seed(3)
    sd = collections.OrderedDict()
    for k, v in tiny.state_dict().items():  # random values everywhere, BatchNorm statistics included
        sd[k] = v.clone() if k.endswith("num_batches_tracked") else torch.rand(v.shape, generator=g) * 0.1 + 0.5
    path = tmp_path_factory.mktemp("xmem") / "XMem.pth"
    torch.save(sd, path)
    return str(path), sd


def _masks(n: int = B, k: int = K) -> torch.Tensor:
    return torch.softmax(torch.randn(n, k + 1, H, W) * 3, dim=1)[:, 1:]


def _features(model: XMem, n: int = B):
    frame = torch.randn(n, 3, H, W)
    return frame, model.encode_key(frame)


def _decoder_inputs(model: XMem):
    """The key encoder's ``f16, f8, f4`` of a random frame, and a random read-out and sensory memory of K objects."""
    _, (_, _, _, f16, f8, f4) = _features(model)
    cfg = model.config
    return (f16, f8, f4), torch.randn(B, K, cfg.value_dim, h, w), torch.randn(B, K, cfg.hidden_dim, h, w)


# ------------------------------------------------------------------ presets
def test_presets_sit_beside_the_stm_presets():
    assert set(XMEM_PRESETS) == {"xmem", "xmem-tiny"}
    assert not set(XMEM_PRESETS) & set(MODEL_PRESETS)
    assert isinstance(build_model("stm-tiny", seed=0), torch.nn.Module) and "stm-tiny" in MODEL_PRESETS
    with pytest.raises(ConfigError, match="xmem-tiny"):  # the error lists both families
        build_model("nope")
    with pytest.raises(ConfigError, match="decoder_dims"):
        XMemConfig(decoder_dims=(8, 8))


def test_the_released_size_has_xmem_parameter_count():
    model = XMem(XMemConfig())
    assert sum(p.numel() for p in model.parameters()) == 62_185_224  # XMem's network, counted with its code
    assert len(model.state_dict()) == 412
    assert tuple(model.state_dict()["value_encoder.conv1.weight"].shape) == (64, 5, 7, 7)


# ------------------------------------------------------------------- shapes
def test_encode_key_shapes(tiny):
    cfg = tiny.config
    with torch.no_grad():
        key, shrinkage, selection, f16, f8, f4 = tiny.encode_key(torch.randn(B, 3, H, W))
        assert key.shape == (B, cfg.key_dim, h, w) and selection.shape == key.shape
        assert shrinkage.shape == (B, 1, h, w) and bool((shrinkage >= 1).all())
        assert bool(((selection > 0) & (selection < 1)).all())
        assert f16.shape == (B, 64, h, w) and f8.shape == (B, 32, 2 * h, 2 * w) and f4.shape == (B, 16, 4 * h, 4 * w)
        _, s, e, *_ = tiny.encode_key(torch.randn(B, 3, H, W), need_sk=False, need_ek=False)
        assert s is None and e is None
        # a clip [B, T, 3, H, W]: keys [B, C, T, h, w], features [B, T, C, h, w] (XMem's layouts)
        key, shrinkage, selection, f16, f8, f4 = tiny.encode_key(torch.randn(B, 4, 3, H, W))
    assert key.shape == (B, cfg.key_dim, 4, h, w) and shrinkage.shape == (B, 1, 4, h, w)
    assert f16.shape == (B, 4, 64, h, w) and f4.shape == (B, 4, 16, 4 * h, 4 * w)


@pytest.mark.parametrize("objects", [1, 3])
def test_encode_value_shapes_and_deep_update(tiny, objects):
    cfg = tiny.config
    frame, (_, _, _, f16, _, _) = _features(tiny)
    hidden = torch.randn(B, objects, cfg.hidden_dim, h, w)
    with torch.no_grad():
        value, new_hidden = tiny.encode_value(frame, f16, hidden, _masks(k=objects), is_deep_update=True)
        value2, same_hidden = tiny.encode_value(frame, f16, hidden, _masks(k=objects), is_deep_update=False)
    assert value.shape == value2.shape == (B, objects, cfg.value_dim, h, w)
    assert new_hidden.shape == hidden.shape and not torch.equal(new_hidden, hidden)
    assert same_hidden is hidden


def test_segment_shapes(tiny):
    (f16, f8, f4), readout, hidden = _decoder_inputs(tiny)
    with torch.no_grad():
        new_hidden, logits, prob = tiny.decode((f16, f8, f4), readout, hidden)
        assert new_hidden.shape == hidden.shape
        assert logits.shape == (B, K + 1, H, W) and prob.shape == (B, K, H, W)
        none, _, prob_bg = tiny.decode((f16, f8, f4), readout, hidden, h_out=False, strip_bg=False)
        assert none is None and prob_bg.shape == (B, K + 1, H, W)
        assert torch.allclose(prob_bg.sum(1), torch.ones(B, H, W), atol=1e-5)
        assert torch.allclose(torch.softmax(logits, 1), prob_bg) and torch.allclose(prob_bg[:, 1:], prob)
        # a selector that removes object 2 leaves it (almost) nothing
        selector = torch.tensor([1.0, 1.0, 0.0]).view(1, K, 1, 1)
        _, _, p = tiny.decode((f16, f8, f4), readout, hidden, selector=selector)
    assert float(p[:, 2].max()) < 1e-5


def test_objects_are_decoded_independently(tiny):
    """Batched over objects = one object at a time (they meet only in the aggregation)."""
    (f16, f8, f4), readout, hidden = _decoder_inputs(tiny)
    with torch.no_grad():
        all_h, all_logits = tiny.decoder(f16, f8, f4, hidden, readout)
        for k in range(K):
            one_h, one_logits = tiny.decoder(f16, f8, f4, hidden[:, k:k + 1], readout[:, k:k + 1])
            assert torch.allclose(one_h, all_h[:, k:k + 1], atol=1e-5)
            assert torch.allclose(one_logits, all_logits[:, k:k + 1], atol=1e-5)


def test_the_value_encoder_sees_the_other_objects(tiny):
    """The third input is the sum of the OTHER objects' masks: changing object 1 changes object 0's value."""
    frame, (_, _, _, f16, _, _) = _features(tiny, n=1)
    masks = _masks(n=1, k=2)
    hidden = torch.zeros(1, 2, tiny.config.hidden_dim, h, w)
    with torch.no_grad():
        v, _ = tiny.encode_value(frame, f16, hidden, masks)
        moved = masks.clone()
        moved[:, 1] = masks[:, 1].flip(-1)
        v2, _ = tiny.encode_value(frame, f16, hidden, moved)
        alone, _ = tiny.encode_value(frame, f16, hidden[:, :1], masks[:, :1])
    assert not torch.allclose(v[:, 0], v2[:, 0])
    assert not torch.allclose(v[:, 0], alone[:, 0])  # alone: the others' channel is zero


def test_without_sensory_memory():
    model = build_model("xmem-tiny", seed=0, hidden_dim=0)
    assert model.value_encoder.hidden_reinforce is None and model.decoder.hidden_update is None
    frame, (_, _, _, f16, f8, f4) = _features(model)
    with torch.no_grad():
        value, hidden = model.encode_value(frame, f16, None, _masks())
        new_hidden, logits, _ = model.decode((f16, f8, f4), value, None)
    assert hidden is None and new_hidden is None and logits.shape == (B, K + 1, H, W)


def test_read_memory_is_one_softmax_shared_by_the_objects(tiny):
    cfg = tiny.config
    T = 3
    qk, qe = torch.randn(B, cfg.key_dim, h, w), torch.rand(B, cfg.key_dim, h, w)
    mk, ms = torch.randn(B, cfg.key_dim, T, h, w), 1 + torch.rand(B, 1, T, h, w)
    mv = torch.randn(B, K, cfg.value_dim, T, h, w)
    out = tiny.read_memory(qk, qe, mk, ms, mv)
    assert out.shape == (B, K, cfg.value_dim, h, w)
    weights = torch.softmax(ops.similarity(mk, ms, qk, qe), dim=1)  # [B, T*h*w, h*w]
    for k in range(K):
        expect = (mv[:, k].flatten(2) @ weights).view(B, cfg.value_dim, h, w)
        assert torch.allclose(out[:, k], expect, atol=1e-5)


def test_frames_are_normalised_then_padded(tiny):
    rgb = torch.rand(1, 3, 37, 61)
    x, pad = tiny.prepare_frame(rgb)
    assert x.shape[-2:] == (48, 64) and pad == (1, 2, 5, 6)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(unpad(x, pad), (rgb - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1))
    assert float(x[..., :5, :].abs().max()) == 0.0  # zero padding after normalising: the mean colour
    assert "mean" not in tiny.state_dict()  # XMem's weights carry no normalisation


# --------------------------------------------------------------- memory maths
def test_similarity_with_unit_shrinkage_and_selection_is_negative_squared_l2():
    torch.manual_seed(1)
    ck, n, m = 8, 12, 7
    mk, qk = torch.randn(1, ck, n, dtype=torch.float64), torch.randn(1, ck, m, dtype=torch.float64)
    l2 = ((mk[:, :, :, None] - qk[:, :, None, :]) ** 2).sum(1)  # [1, N, M]
    ones_s, ones_e = torch.ones(1, 1, n, dtype=torch.float64), torch.ones(1, ck, m, dtype=torch.float64)
    assert torch.allclose(ops.similarity(mk, ones_s, qk, ones_e), -l2 / math.sqrt(ck))
    # without a selection XMem drops the query's squared norm (the same for every memory element)
    q2 = (qk ** 2).sum(1, keepdim=True)  # [1, 1, M]
    assert torch.allclose(ops.similarity(mk, None, qk, None), (-l2 + q2) / math.sqrt(ck))
    # ... which the softmax over the memory does not see
    assert torch.allclose(ops.topk_softmax(ops.similarity(mk, None, qk, None)),
                          ops.topk_softmax(ops.similarity(mk, None, qk, ones_e)))
    # shrinkage scales each memory element's row; a zero selection ignores a channel
    s = 1 + torch.rand(1, 1, n, dtype=torch.float64)
    assert torch.allclose(ops.similarity(mk, s, qk, ones_e), -l2 * s[0, 0, :, None] / math.sqrt(ck))
    e = ones_e.clone()
    e[:, 0] = 0
    l2_rest = ((mk[:, 1:, :, None] - qk[:, 1:, None, :]) ** 2).sum(1)
    assert torch.allclose(ops.similarity(mk, None, qk, e), -l2_rest / math.sqrt(ck))


@pytest.mark.parametrize("top_k", [None, 1, 5, 40])
def test_topk_softmax_weights_sum_to_one(top_k):
    sim = torch.randn(2, 30, 11, dtype=torch.float64) * 4
    weights, usage = ops.topk_softmax(sim, top_k, return_usage=True)
    assert torch.allclose(weights.sum(1), torch.ones(2, 11, dtype=torch.float64))
    assert torch.allclose(usage, weights.sum(2))
    nonzero = (weights > 0).sum(1)
    assert bool((nonzero == min(top_k or 30, 30)).all())
    if top_k == 1:  # the nearest memory element only
        assert torch.equal(weights.argmax(1), sim.argmax(1))
    # far from 0 (where XMem's top-k exponentials underflow to 0/0) the weights are the same
    assert torch.allclose(ops.topk_softmax(sim - 5000, top_k), weights)


def test_readout_is_the_weighted_sum_of_values():
    values = torch.randn(3, 16, 20)  # three objects sharing one affinity, as in XMem's memory manager
    weights = torch.zeros(1, 20, 6)
    weights[0, torch.arange(6) * 3, torch.arange(6)] = 1  # query j reads element 3j only
    out = ops.readout(weights, values)
    assert out.shape == (3, 16, 6) and torch.equal(out, values[:, :, ::3][:, :, :6])
    with pytest.raises(ValueError, match="elements"):
        ops.readout(weights, torch.randn(3, 16, 19))


# ------------------------------------------------------------------ loading
def test_released_format_loads_strictly(released):
    path, sd = released
    model = load_checkpoint(path)
    assert isinstance(model, XMem) and not model.training
    info = model.checkpoint
    assert info.format == "xmem-released" and info.config == XMEM_PRESETS["xmem-tiny"]
    assert info.input_size is None and info.notes == []
    own = model.state_dict()
    assert list(own) == list(sd)
    for k, v in sd.items():
        assert torch.equal(own[k], v), k


def test_released_format_infers_every_size():
    full = XMem(XMemConfig()).state_dict()
    from erfkit.model.checkpoint import _infer_xmem_config

    assert _infer_xmem_config(full, "XMem.pth") == XMEM_PRESETS["xmem"]
    odd = XMemConfig(key_backbone="resnet18", value_backbone="resnet-tiny", key_dim=8, value_dim=48, hidden_dim=0,
                     decoder_dims=(24, 12, 8))
    assert _infer_xmem_config(XMem(odd).state_dict(), "x.pth") == odd


def test_released_format_errors_list_missing_and_unexpected_keys(tmp_path, released):
    _, sd = released
    broken = dict(sd)
    del broken["decoder.pred.bias"]
    broken["decoder.extra.weight"] = torch.zeros(2)
    path = tmp_path / "broken.pth"
    torch.save(broken, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert str(path) in msg
    assert "1 missing keys: decoder.pred.bias" in msg and "1 unexpected keys: decoder.extra.weight" in msg
    bad = dict(sd)
    bad["decoder.pred.weight"] = torch.zeros(2, 16, 3, 3)
    torch.save(bad, path)
    with pytest.raises(CheckpointError, match="shape mismatches: decoder.pred.weight"):
        load_checkpoint(path)
    gone = {k: v for k, v in sd.items() if not k.startswith("value_encoder.fuser.block2")}
    torch.save(gone, path)
    with pytest.raises(CheckpointError, match="not an XMem state dict"):
        load_checkpoint(path)


def test_released_variants_load_as_xmem_loads_them(tmp_path, released):
    """'module.' prefix; single-object weights (4 input channels) get a zero channel, as XMem's load_weights."""
    _, sd = released
    path = tmp_path / "variant.pth"
    one = {f"module.{k}": v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    one["module.value_encoder.conv1.weight"] = sd["value_encoder.conv1.weight"][:, :4]
    torch.save(one, path)
    model = load_checkpoint(path)
    w = model.value_encoder.conv1.weight.detach()
    assert torch.equal(w[:, :4], sd["value_encoder.conv1.weight"][:, :4]) and float(w[:, 4].abs().max()) == 0
    notes = " ".join(model.checkpoint.notes)
    assert "module." in notes and "single-object" in notes and "num_batches_tracked" in notes


def test_xmems_training_checkpoints_load(tmp_path, released):
    """XMem's trainer saves {'it', 'network', 'optimizer', 'scheduler'} (a MultiStepLR's milestones are a Counter):
    the network loads strictly, the iteration is kept, the rest is ignored; still weights_only."""
    model = load_checkpoint(released[0])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [10, 20], 0.1)
    path = tmp_path / "retrain_s2_checkpoint_3000.pth"
    torch.save({"it": 3000, "network": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict()}, path)
    back = load_checkpoint(path)
    assert isinstance(back, XMem) and back.checkpoint.format == "xmem-training"
    assert back.checkpoint.metadata["it"] == 3000
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k


def test_our_format_holds_an_xmem(tmp_path, released):
    model = load_checkpoint(released[0])
    path = save_checkpoint(model, tmp_path / "x", {"label": "xmem run"})
    back = load_checkpoint(path)
    assert isinstance(back, XMem) and back.checkpoint.format == "erfkit"
    assert back.config == model.config and back.checkpoint.metadata["architecture"] == "xmem"
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
    # STM checkpoints keep loading as STM (no architecture key: an STM)
    stm = load_checkpoint(save_checkpoint(build_model("stm-tiny", seed=0), tmp_path / "s"))
    assert type(stm).__name__ == "STM"


def test_erfkit_info_describes_xmem_weights(released, capsys):
    from erfkit.cli import main

    path, _ = released
    assert main(["info", path]) == 0
    out = capsys.readouterr().out
    assert "xmem-released checkpoint of xmem-tiny" in out
    assert "0.44 M parameters" in out and "key encoder resnet-tiny" in out and "hidden 16" in out
    assert main(["info", path, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "xmem-released" and doc["model"]["value_dim"] == 32
    assert doc["parameters"] == sum(v.numel() for k, v in released[1].items()
                                    if "running" not in k and "num_batches" not in k)
    assert os.path.basename(doc["path"]) == "XMem.pth"
