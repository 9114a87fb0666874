"""Checkpoints: our format, the two foreign formats of ../shared/compat, safe loading, backbone weights."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import pytest
import torch

from erfkit.errors import CheckpointError
from erfkit.model import build_model
from erfkit.model.checkpoint import load_backbone_weights, load_checkpoint, save_checkpoint
from erfkit.model.resnet import BACKBONES, ResNet


def _manifest(shared, name):
    return json.loads((shared / "compat" / f"{name}.state_dict.json").read_text())


def _random_state(manifest: dict, seed: int) -> "collections.OrderedDict[str, torch.Tensor]":
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    for k, shape in manifest["parameters"].items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.randint(0, 1000, shape, generator=g, dtype=torch.long)
        else:
            sd[k] = torch.randn(shape, generator=g)
    return sd


def test_our_format_round_trip(tmp_path, tiny_model):
    path = save_checkpoint(tiny_model, tmp_path / "run", {"training": {"mode": "cyclic", "step": 7}, "label": "x"})
    assert path.name == "model.safetensors"
    loaded = load_checkpoint(tmp_path / "run")
    assert loaded.checkpoint.format == "erfkit"
    assert loaded.checkpoint.metadata["training"] == {"mode": "cyclic", "step": 7}
    assert loaded.checkpoint.config == tiny_model.config
    assert loaded.checkpoint.label == "x"
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "run").iterdir())


def test_official_stm_weights_load_into_the_right_places(tmp_path, shared):
    """Released STM weights: a bare DataParallel state dict ('module.' prefix), conv1_o, mean/std buffers."""
    manifest = _manifest(shared, "stm-official-r50")
    sd = _random_state(manifest, 0)
    path = tmp_path / "STM_weights.pth"
    torch.save(collections.OrderedDict(("module." + k, v) for k, v in sd.items()), path)
    model = load_checkpoint(path)
    info = model.checkpoint
    assert info.format == "stm-official"
    assert info.config.name == "stm-r50" and info.config.extra_input == "other"
    assert info.input_size is None  # their eval_DAVIS runs at the file's size (480p)
    own = model.state_dict()
    assert set(own) == set(sd)
    for k, v in sd.items():
        assert torch.equal(own[k], v), k
    # the third input is the OTHER objects' union
    assert torch.equal(model.Encoder_M.conv1_o.weight, sd["Encoder_M.conv1_o.weight"])


@pytest.mark.parametrize("name,backbone", [("stm-training-r50", "resnet50"), ("stm-training-r18", "resnet18")])
def test_stm_training_checkpoints_load_into_the_right_places(tmp_path, shared, name, backbone):
    """The authors' checkpoints: {'epoch', 'state_dict', 'max_skip'}, conv1_bg, ResNet-50 or -18."""
    manifest = _manifest(shared, name)
    sd = _random_state(manifest, 1)
    path = tmp_path / "e240.pth"
    torch.save({"epoch": 240, "state_dict": sd, "max_skip": [25]}, path)
    model = load_checkpoint(path)
    info = model.checkpoint
    assert info.format == "stm-training"
    assert info.config.backbone == backbone and info.config.extra_input == "background"
    assert info.metadata["epoch"] == 240 and info.metadata["max_skip"] == [25]
    assert info.input_size == (240, 427)  # the authors train and test at 240x427
    own = model.state_dict()
    for k, v in sd.items():
        assert torch.equal(own[k], v), k
    assert torch.equal(model.Encoder_M.conv1_bg.weight, sd["Encoder_M.conv1_bg.weight"])


def test_stm_training_checkpoint_without_mean_std_gets_imagenet_values(tmp_path, shared):
    sd = _random_state(_manifest(shared, "stm-training-r18"), 2)
    for k in [k for k in sd if k.endswith((".mean", ".std"))]:
        del sd[k]
    path = tmp_path / "noms.pth"
    torch.save({"epoch": 1, "state_dict": sd, "max_skip": [5]}, path)
    model = load_checkpoint(path)
    assert torch.allclose(model.Encoder_Q.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))
    assert any("ImageNet" in n for n in model.checkpoint.notes)


def test_missing_and_unexpected_keys_are_listed(tmp_path, shared):
    sd = _random_state(_manifest(shared, "stm-training-r18"), 3)
    del sd["Decoder.pred2.bias"]
    sd["Decoder.extra.weight"] = torch.zeros(2)
    path = tmp_path / "broken.pth"
    torch.save({"epoch": 1, "state_dict": sd, "max_skip": [5]}, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert str(path) in msg
    assert "1 missing keys: Decoder.pred2.bias" in msg
    assert "1 unexpected keys: Decoder.extra.weight" in msg


def test_shape_mismatch_is_reported(tmp_path, tiny_model):
    path = save_checkpoint(tiny_model, tmp_path / "m.safetensors")
    from safetensors.torch import load_file, save_file

    sd = load_file(str(path))
    sd["Decoder.pred2.bias"] = torch.zeros(3)
    meta = {"erfkit": json.dumps({"format": "erfkit-checkpoint", "format_version": 1,
                                  "model": tiny_model.config.to_dict()})}
    save_file(sd, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="shape mismatches: Decoder.pred2.bias"):
        load_checkpoint(path)


class _Payload:
    """Unpickling this runs code: it would create a file."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.makedirs, (self.target,))


def test_checkpoint_carrying_pickled_code_is_refused(tmp_path, tiny_model):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": tiny_model.state_dict(), "hook": _Payload(str(target))}, path)
    with pytest.raises(CheckpointError, match="refused") as e:
        load_checkpoint(path)
    assert "arbitrary code" in str(e.value)
    assert not target.exists(), "the payload ran"


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_unreadable_files_give_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(path) in str(e.value)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_checkpoint(tmp_path / "empty")


def test_torchvision_backbone_weights_initialise_both_encoders(tmp_path):
    torch.manual_seed(5)
    resnet = ResNet(BACKBONES["resnet18"])  # all four stages, as torchvision saves them
    sd = dict(resnet.state_dict())
    sd["fc.weight"] = torch.randn(1000, 512)
    sd["fc.bias"] = torch.randn(1000)
    path = tmp_path / "resnet18.pth"
    torch.save(sd, path)
    model = build_model("stm-r18", seed=0)
    unused = load_backbone_weights(model, path)
    assert "fc.weight" in unused and any(k.startswith("layer4.") for k in unused)
    for enc in (model.Encoder_M, model.Encoder_Q):
        assert torch.equal(enc.conv1.weight, sd["conv1.weight"])
        assert torch.equal(enc.res2[0].conv1.weight, sd["layer1.0.conv1.weight"])
        assert torch.equal(enc.res4[1].bn2.running_var, sd["layer3.1.bn2.running_var"])
    # a ResNet-50 file does not fit a ResNet-18 model
    r50 = tmp_path / "resnet50.pth"
    torch.save(ResNet(BACKBONES["resnet50"], num_stages=3).state_dict(), r50)
    with pytest.raises(CheckpointError):
        load_backbone_weights(model, r50)


def test_our_checkpoints_record_their_input_size(tmp_path, tiny_model):
    from erfkit import load_checkpoint as load
    from erfkit.errors import CheckpointError as Err

    assert load(save_checkpoint(tiny_model, tmp_path / "a", {"input_size": "128x224"})).checkpoint.input_size == \
        (128, 224)
    assert load(save_checkpoint(tiny_model, tmp_path / "b")).checkpoint.input_size is None
    with pytest.raises(Err, match="input_size"):
        load(save_checkpoint(tiny_model, tmp_path / "c", {"input_size": "big"})).checkpoint.input_size
    for name in ("stm-tiny-baseline", "stm-tiny-cyclic"):  # trained on 240x427 synthetic videos
        assert load(Path(__file__).parents[2] / "checkpoints" / name).checkpoint.input_size == (240, 427)
