"""EfficientNet-Lite0: the ImageNet file loads strictly and classifies as ImageNet says; stm-lite0 starts from it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from erfkit.errors import CheckpointError
from erfkit.model import build_model
from erfkit.model.checkpoint import load_backbone_weights
from erfkit.model.efficientnet import EfficientNetLite, load_lite0_state_dict, same_padding


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite:
    net = EfficientNetLite()
    net.load_state_dict(load_lite0_state_dict(), strict=True)  # every name and shape of the file, no more
    return net.eval()


def _image(name: str) -> torch.Tensor:
    img = Image.fromarray(getattr(skdata, name)()).resize((224, 224), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("name, label", [("chelsea", 285), ("coffee", 967)])
def test_the_imagenet_weights_classify_scikit_image_photographs(lite0, name, label):
    """Egyptian cat (285) and espresso (967): pins TF 'same' padding, BatchNorm eps 1e-3, ReLU6 and input scaling."""
    with torch.no_grad():
        p = lite0.classify(_image(name))[0]
    assert int(p.argmax()) == label
    assert float(p[label]) > 0.5


def test_same_padding_is_tensorflows():
    # stride 2 on an even size puts the extra pixel right/bottom; stride 1 pads symmetrically
    assert same_padding((224, 224), 3, 2) == (0, 1, 0, 1)
    assert same_padding((224, 224), 5, 2) == (1, 2, 1, 2)
    assert same_padding((15, 27), 5, 1) == (2, 2, 2, 2)
    assert same_padding((225, 7), 3, 2) == (1, 1, 1, 1)


def test_stm_lite0_starts_both_encoders_from_the_imagenet_file():
    model = build_model("stm-lite0", seed=0)
    unused = load_backbone_weights(model, "imagenet")
    sd = load_lite0_state_dict()
    assert {k.split(".")[1] for k in unused if k.startswith("_blocks.")} == {str(i) for i in range(11, 16)}
    assert {k for k in unused if not k.startswith("_blocks.")} == {
        "_conv_head.weight", "_bn1.weight", "_bn1.bias", "_bn1.running_mean", "_bn1.running_var",
        "_bn1.num_batches_tracked", "_fc.weight", "_fc.bias"}
    for enc in (model.Encoder_Q, model.Encoder_M):
        assert torch.equal(enc.backbone._blocks[10]._project_conv.weight, sd["_blocks.10._project_conv.weight"])
        assert torch.equal(enc.backbone._conv_stem.weight, sd["_conv_stem.weight"])
    # the mask convolutions start at zero: the memory encoder sees the frame as the query encoder does
    frame = torch.rand(1, 3, 64, 96)
    masks = torch.zeros(1, 2, 64, 96)
    masks[:, 1, 10:40, 20:60] = 1
    masks[:, 0] = 1 - masks[:, 1]
    with torch.no_grad():
        r4_query = model.Encoder_Q(frame)[0]
        r4_memory = model.Encoder_M(model.memory_stem(frame), masks[:, 1:])
    assert r4_query.shape == (1, 112, 4, 6)
    torch.testing.assert_close(r4_memory, r4_query, rtol=0, atol=0)


def test_a_resnet_file_does_not_load_into_stm_lite0(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(build_model("stm-tiny", seed=0).Encoder_Q.state_dict(), path)
    with pytest.raises(CheckpointError, match="not a matching EfficientNet-Lite0 file"):
        load_backbone_weights(build_model("stm-lite0", seed=0), path)
    with pytest.raises(CheckpointError, match="no ImageNet weights ship for resnet-tiny"):
        load_backbone_weights(build_model("stm-tiny", seed=0), "imagenet")


def test_gradcam_on_the_memory_encoder_finds_its_stride8_layer_on_both_backbones():
    for name, layer, channels in (("stm-tiny", "Encoder_M.res3", 32), ("stm-lite0", "Encoder_M.backbone._blocks.4", 40)):
        model = build_model(name, seed=0)
        assert model.attribution_layer("memory") == layer
        outputs = []
        hook = model.get_submodule(layer).register_forward_hook(lambda m, i, o: outputs.append(o))
        with torch.no_grad():
            model.memorize(torch.rand(1, 3, 64, 96), torch.ones(1, 2, 64, 96) / 2)
        hook.remove()
        assert outputs[0].shape == (1, channels, 8, 12)
