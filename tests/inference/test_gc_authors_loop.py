"""Gradient correction with its defaults equals the authors' test-time loop, on real DAVIS frames.

The reference below is written from the authors' test script (STM-Training
``test.py``), step by step, with OpenCV where they use it:

* ``Rescale``: every frame resized (bilinear) onto a 240x427 canvas; the first
  mask's one-hot resized the same way (their ``INTER_NEAREST`` lands in ``dst``)
  and cast to ``uint8``;
* memory: frame ``t-1`` (the given mask at 0, else the previous output) is
  memorised for frame ``t``, and kept when ``(t-1) % 5 == 0``;
* at every 5th frame, 10 times: memorise ``(X_t, out)`` alone, segment frame 1,
  take ``cross_entropy_loss`` (the 40% hardest pixels, ``int(H*W*0.4)``) plus
  ``mask_iou_loss`` against the first mask, ``out <- out - 180 * grad``;
* ``write_mask``: crop the canvas, resize with ``INTER_NEAREST`` to the file's
  size, argmax.

The model is the shipped cyclic checkpoint, which records 240x427 as its input size.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from erfkit.inference import GCConfig, VideoPredictor
from erfkit.model.checkpoint import load_checkpoint
from erfkit.model.stm import Memory

CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "stm-tiny-cyclic"
FRAMES = 16
SIZE = (240, 427)


def _authors_criterion(pred: torch.Tensor, target: torch.Tensor, n: int) -> torch.Tensor:
    N, _, H, W = target.shape
    ce = (-torch.log(pred[:, :n + 1]) * target[:, :n + 1]).sum(1).view(N, -1)
    ce = ce.sort(dim=-1, descending=True).values[:, :int(H * W * 0.4)].mean()
    inter = torch.minimum(pred[:, 1:n + 1], target[:, 1:n + 1]).sum((2, 3))
    union = torch.maximum(pred[:, 1:n + 1], target[:, 1:n + 1]).sum((2, 3))
    return ce + (1 - inter / union).mean(1).mean()


def _rescale(img: np.ndarray, onehot: np.ndarray | None):
    h, w = img.shape[:2]
    H, W = SIZE
    f = min(H / h, W / w)
    sh, sw = int(f * h), int(f * w)
    top, left = (H - sh) // 2, (W - sw) // 2
    c = np.zeros((H, W, 3), np.float32)
    c[top:top + sh, left:left + sw] = cv2.resize(img.astype(np.float32), (sw, sh))
    x = torch.from_numpy(c / 255.0).permute(2, 0, 1)[None].float()
    if onehot is None:
        return x, (top, left, sh, sw)
    a = np.zeros((H, W, onehot.shape[2]), np.float32)
    a[top:top + sh, left:left + sw] = cv2.resize(onehot.astype(np.float32), (sw, sh), cv2.INTER_NEAREST)
    return x, torch.from_numpy(a.astype(np.uint8)).permute(2, 0, 1)[None].float()


def _authors_loop(model, frames: list[np.ndarray], first_mask: np.ndarray):
    """Per frame: (uncorrected canvas probs, corrected canvas probs)."""
    ids = [int(o) for o in np.unique(first_mask) if o != 0]
    onehot = np.stack([first_mask == 0] + [first_mask == o for o in ids], -1)
    xs = [_rescale(f, None)[0] for f in frames]
    _, ref_mask = _rescale(frames[0], onehot)
    n = len(ids)
    out, keys, outs = None, [], [(ref_mask, ref_mask)]
    for t in range(1, len(frames)):
        with torch.no_grad():
            tmp = ref_mask if t - 1 == 0 else out
            mem = model.memorize(xs[t - 1], tmp)
            out = torch.softmax(model.segment(xs[t], Memory.cat(keys + [mem])), 1)
            if (t - 1) % 5 == 0:
                keys.append(mem)
        uncorrected = out
        if t % 5 == 0:
            for _ in range(10):
                y = out.detach().clone().requires_grad_(True)
                with torch.enable_grad():
                    fout = torch.softmax(model.segment(xs[0], model.memorize(xs[t], y)), 1)
                    loss = _authors_criterion(fout, ref_mask, n)
                    (grad,) = torch.autograd.grad(loss, y)
                out = out - 180 * grad
        outs.append((uncorrected, out))
    return outs, ids


def _write_mask(probs: torch.Tensor, size: tuple[int, int], geometry) -> np.ndarray:
    top, left, sh, sw = geometry
    m = probs[0].permute(1, 2, 0).numpy()[top:top + sh, left:left + sw]
    return cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


@pytest.mark.slow
def test_default_gc_equals_the_authors_loop_on_real_frames(real_frames):
    model = load_checkpoint(CHECKPOINT)
    for p in model.parameters():
        p.requires_grad_(False)
    seq = "dog"
    paths = sorted((real_frames / "JPEGImages/480p" / seq).glob("*.jpg"))[:FRAMES]
    frames = [np.array(Image.open(p).convert("RGB")) for p in paths]
    first = np.array(Image.open(real_frames / "Annotations/480p" / seq / "00000.png"))
    ref, ids = _authors_loop(model, frames, first)
    geometry = _rescale(frames[0], None)[1]

    predictor = VideoPredictor(model, gc=GCConfig(iters=10))  # defaults: rate 180, every 5, the authors' loss
    assert predictor.size == SIZE
    agree = []
    for t, frame in enumerate(frames):
        probs = predictor.step(frame, first if t == 0 else None)
        assert probs.shape[-2:] == frame.shape[:2]
        uncorrected, corrected = (_write_mask(p, frame.shape[:2], geometry) for p in ref[t])
        ours_unc = predictor.last_uncorrected.permute(1, 2, 0).numpy()
        if 0 < t <= 5:  # up to the first corrected frame: the same probabilities
            np.testing.assert_allclose(ours_unc, uncorrected, atol=2e-4)
        if t > 0:
            ours = probs.permute(1, 2, 0).numpy()
            agree.append((ours.argmax(-1) == corrected.argmax(-1)).mean())
    assert min(agree) >= 0.99 and np.mean(agree) >= 0.99, agree
