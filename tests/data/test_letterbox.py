"""The input-size letterbox, pinned to what the authors' code computes with OpenCV.

The authors' ``Rescale`` resizes frames with ``cv2.resize`` (bilinear) onto a zero
canvas, and masks the same way (their ``cv2.INTER_NEAREST`` lands in the ``dst``
argument) followed by a ``uint8`` cast; ``write_mask`` crops the canvas and
resizes with ``INTER_NEAREST``.  The references below call OpenCV exactly so.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from erfkit.data.letterbox import Letterbox, format_size, parse_size
from erfkit.errors import ConfigError

GEOMETRIES = [((480, 854), (240, 427)), ((480, 910), (240, 427)), ((333, 500), (240, 427)),
              ((480, 854), (300, 500)), ((240, 427), (240, 427))]


def _authors_rescale(img: np.ndarray, onehot: np.ndarray, canvas: tuple[int, int]):
    H, W = canvas
    h, w = img.shape[:2]
    factor = min(H / h, W / w)
    sh, sw = int(factor * h), int(factor * w)
    left, top = (W - sw) // 2, (H - sh) // 2
    c_img = np.zeros((H, W, 3), np.float32)
    c_img[top:top + sh, left:left + sw] = cv2.resize(img.astype(np.float32), (sw, sh))
    c_ann = np.zeros((H, W, onehot.shape[2]), np.float32)
    c_ann[top:top + sh, left:left + sw] = cv2.resize(onehot.astype(np.float32), (sw, sh), cv2.INTER_NEAREST)
    return c_img, c_ann.astype(np.uint8).astype(np.float32), (top, left, sh, sw)


@pytest.fixture(scope="module")
def dog(real_frames):
    img = np.array(Image.open(real_frames / "JPEGImages/480p/dog/00000.jpg").convert("RGB"))
    mask = np.array(Image.open(real_frames / "Annotations/480p/dog/00000.png"))
    return img, mask


@pytest.mark.parametrize("frame,canvas", GEOMETRIES)
def test_letterbox_equals_the_authors_rescale(dog, frame, canvas):
    img, mask = dog
    h, w = frame
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    onehot = np.stack([mask == 0, mask == 1], -1)
    ref_img, ref_ann, (top, left, sh, sw) = _authors_rescale(img, onehot, canvas)

    box = Letterbox.fit(frame, canvas)
    assert (box.top, box.left, box.inner) == (top, left, (sh, sw))
    x = torch.from_numpy(img).permute(2, 0, 1)[None].double()
    ours = box.image(x)[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - ref_img).max() < 0.01  # on 0..255: float rounding only
    m = box.mask(torch.from_numpy(onehot).permute(2, 0, 1)[None].float())[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(m, ref_ann)  # bilinear + truncation: boundary pixels unlabelled
    if canvas != frame:
        assert (ref_ann.sum(-1) == 0).any()


@pytest.mark.parametrize("frame,canvas", GEOMETRIES)
def test_back_to_the_file_equals_write_mask(frame, canvas):
    h, w = frame
    H, W = canvas
    probs = np.random.default_rng(0).random((H, W, 3)).astype(np.float32)
    box = Letterbox.fit(frame, canvas)
    c = probs[box.top:box.top + box.inner[0], box.left:box.left + box.inner[1]]
    ref = cv2.resize(c, (w, h), interpolation=cv2.INTER_NEAREST)
    ours = box.probs_to_frame(torch.from_numpy(probs).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(ours, ref)
    maps = box.map_to_frame(torch.from_numpy(probs).permute(2, 0, 1))
    assert maps.shape == (3, h, w)


def test_native_is_the_identity():
    box = Letterbox.fit((123, 77), None)
    x = torch.rand(1, 3, 123, 77)
    assert box.identity and box.image(x) is x and box.mask(x) is x and box.probs_to_frame(x) is x


def test_labels_on_the_canvas_keep_ids_and_zero_the_border():
    lab = torch.zeros(100, 300, dtype=torch.long)
    lab[40:60, 100:200] = 7
    box = Letterbox.fit((100, 300), (240, 427))
    out = box.labels(lab)
    assert out.shape == (240, 427) and set(out.unique().tolist()) == {0, 7}
    assert (out[:box.top] == 0).all()


def test_parse_size():
    assert parse_size("240x427") == (240, 427) and parse_size("native") is None and parse_size([240, 427]) == (240, 427)
    assert format_size((240, 427)) == "240x427" and format_size(None) == "native"
    for bad in ("240", "axb", "8x8", "240x427x3"):
        with pytest.raises(ConfigError):
            parse_size(bad)
