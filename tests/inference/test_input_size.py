"""The predictor's input-size policy and dtype: letterboxed at the checkpoint's size, outputs at the file's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from erfkit.data import DavisDataset
from erfkit.data.letterbox import Letterbox
from erfkit.errors import ConfigError
from erfkit.inference import GCConfig, VideoPredictor
from erfkit.model import build_model
from erfkit.model.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def video(tiny_synth):
    ds = DavisDataset(tiny_synth, "val")
    return ds[ds.names[0]]


def _upscaled(video, factor=2):
    """The video's frames and first mask at ``factor`` times the size (bilinear / nearest)."""
    frames = []
    for t in range(len(video)):
        x = torch.from_numpy(video.read_frame(t).copy()).permute(2, 0, 1)[None].float()
        x = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
        frames.append(x[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy())
    mask = np.kron(video.prompt(0), np.ones((factor, factor), np.uint8))
    return frames, mask


def test_size_comes_from_the_checkpoint(tiny_model, tmp_path):
    assert VideoPredictor(tiny_model).size is None  # built in memory: native
    model = load_checkpoint(save_checkpoint(tiny_model, tmp_path / "m", {"input_size": "64x112"}))
    assert VideoPredictor(model).size == (64, 112)
    assert VideoPredictor(model, size="native").size is None
    assert VideoPredictor(model, size="32x48").size == (32, 48)
    with pytest.raises(ConfigError):
        VideoPredictor(model, size="huge")


def test_letterboxed_run_writes_masks_at_the_file_size(tiny_model, video):
    """Frames twice the training size run at the training size; every output is at the file's size."""
    frames, mask = _upscaled(video)
    h, w = video.size
    small = VideoPredictor(tiny_model, size=(h, w))
    native = VideoPredictor(tiny_model, size="native")
    ref = VideoPredictor(tiny_model)  # the small video itself
    for t, frame in enumerate(frames):
        given = mask if t == 0 else None
        p = small.step(frame, given)
        assert p.shape == (2 if mask.max() == 1 else p.shape[0], 2 * h, 2 * w)
        lab = small.labels(p)
        assert lab.shape == (2 * h, 2 * w)
        if t == 0:
            assert np.array_equal(lab, mask)  # a given mask comes back as given
        q = ref.step(video.read_frame(t), video.prompt(0) if t == 0 else None)
        if t > 0:
            # the letterboxed run is the small run up to resampling (the frame up and down
            # again), its probabilities brought to 2x size by nearest
            expect = small.letterbox.probs_to_frame(q[None])[0]
            assert (p - expect).abs().mean() < 0.01
        native.step(frame, given)
    assert small.letterbox.canvas == (h, w) and native.letterbox.canvas == (2 * h, 2 * w)
    assert small.settings()["size"] == f"{h}x{w}" and native.settings()["size"] == "native"


def test_canvas_onehot_is_the_mask_the_network_is_given(tiny_model, video):
    frames, mask = _upscaled(video)
    p = VideoPredictor(tiny_model, size=video.size)
    p.step(frames[0], mask)
    hot = p.canvas_onehot(mask)
    box = Letterbox.fit(mask.shape, video.size)
    assert hot.shape == (1, len(p.object_ids) + 1, *video.size)
    assert torch.equal(hot, box.mask(torch.stack([torch.from_numpy(mask == i) for i in [0, *p.object_ids]])[None]
                                     .float()))


def test_a_float64_model_computes_in_float64(video):
    model = build_model("stm-tiny", seed=0).double()
    p = VideoPredictor(model, gc=GCConfig(iters=1, every=1))
    p.step(video.read_frame(0), video.prompt(0))
    probs = p.step(video.read_frame(1))
    assert probs.dtype == torch.float64
    # and equals the float32 model's result up to float32 rounding
    p32 = VideoPredictor(build_model("stm-tiny", seed=0), gc=GCConfig(iters=1, every=1))
    p32.step(video.read_frame(0), video.prompt(0))
    assert (probs - p32.step(video.read_frame(1)).double()).abs().max() < 1e-3
