"""Table 5's memory masks: boxes as the authors make them, in the predictor's object order, on its canvas."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from erfkit.experiments.runs import bounding_box_masks, mask_to_box, model_masks
from erfkit.inference import VideoPredictor


def _boxes_by_loop(masks: torch.Tensor) -> torch.Tensor:
    """Direct loops over rows and columns, as the authors' mask_to_box scans them (every channel)."""
    N, C, H, W = masks.shape
    out = torch.zeros_like(masks)
    for n in range(N):
        for o in range(C):
            cols = [x for x in range(W) if masks[n, o, :, x].sum() > 0]
            rows = [y for y in range(H) if masks[n, o, y, :].sum() > 0]
            if cols and rows:
                out[n, o, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = 1
    return out


def test_mask_to_box_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    masks = (torch.rand(2, 5, 17, 23, generator=g) > 0.985).float()  # scattered pixels, channels overlap
    masks[0, 3] = 0  # an empty channel stays empty
    masks[1, 0] = 1  # a full background channel
    masks[1, 2, 4, 7] = 1  # a single pixel
    masks[1, 2, 5:, :] = 0
    masks[1, 2, :4, :] = 0
    boxes = mask_to_box(masks)
    assert boxes.shape == masks.shape and boxes.dtype == masks.dtype
    assert torch.equal(boxes, _boxes_by_loop(masks))
    assert not boxes[0, 3].any() and boxes[1, 0].all() and boxes[1, 2].sum() == 1


def test_mask_to_box_keeps_overlaps_and_the_background():
    lab = np.zeros((12, 16), np.uint8)
    lab[3:11, 8:14] = 2  # its box overlaps object 1's box
    lab[1:8, 1:3] = 1
    lab[6:8, 1:10] = 1  # an L (over two columns of object 2): its box is rows 1..7, columns 1..9
    hot = torch.stack([torch.from_numpy(lab == o) for o in (0, 1, 2)]).float()[None]
    boxes = mask_to_box(hot)
    assert torch.equal(boxes, _boxes_by_loop(hot))
    assert boxes[0, 1, 1:8, 1:10].all() and boxes[0, 1].sum() == 7 * 9
    assert boxes[0, 2, 3:11, 8:14].all() and boxes[0, 2].sum() == 8 * 6
    assert boxes[0, 1, 5, 9] == 1 and boxes[0, 2, 5, 9] == 1  # the overlap is in both, not given to one
    assert boxes[0, 0].all()  # the background touches every border: its box is the image


class _Video:
    """Object 3 is given at frame 0, object 1 at frame 1: the predictor's order is [3, 1], not sorted."""

    def __init__(self, h: int = 40, w: int = 48, n: int = 6):
        g = np.random.default_rng(0)
        self.frames = [(g.random((h, w, 3)) * 255).astype(np.uint8) for _ in range(n)]
        self.gt = np.zeros((h, w), np.uint8)
        self.gt[2:12, 3:15] = 3
        self.gt[20:35, 25:44] = 1
        self.object_frames = {3: 0, 1: 1}
        self.name, self.size = "video", (h, w)

    def __len__(self) -> int:
        return len(self.frames)

    def frame_name(self, t: int) -> str:
        return f"{t:05d}"

    def read_frame(self, t: int) -> np.ndarray:
        return self.frames[t]

    def read_annotation(self, t: int) -> np.ndarray:
        return self.gt

    def prompt(self, t: int) -> np.ndarray | None:
        if t in (0, 1):
            return np.where(self.gt == (3 if t == 0 else 1), self.gt, 0).astype(np.uint8)
        return None


def _run(predictor: VideoPredictor, video: _Video, callback) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    calls = []

    def record(t, frame, probs):
        out = callback(t, frame, probs)
        calls.append((t, probs, out))
        return out

    predictor.memory_masks = record
    for t in range(len(video)):
        predictor.step(video.read_frame(t), video.prompt(t))
    return calls


def test_boxes_follow_the_predictors_object_order(tiny_model):
    video = _Video()
    p = VideoPredictor(tiny_model, memory="mem", size="native")
    calls = _run(p, video, bounding_box_masks(video, p))
    assert p.object_ids == [3, 1]
    assert [t for t, _, _ in calls] == [2, 3, 4, 5]  # not at frames with given masks
    for _, probs, boxes in calls:
        assert boxes.shape == probs.shape == (1, 3, 40, 48)
        assert boxes[0, 1, 2:12, 3:15].all() and boxes[0, 1].sum() == 10 * 12  # channel 1 is object 3
        assert boxes[0, 2, 20:35, 25:44].all() and boxes[0, 2].sum() == 15 * 19  # channel 2 is object 1
        assert boxes[0, 0].all()


def test_boxes_without_canvas_onehot_fall_back_to_onehot():
    video = _Video()
    fake = SimpleNamespace(object_ids=[1, 3], device=torch.device("cpu"))  # a predictor with no canvas
    boxes = bounding_box_masks(video, fake)(2, torch.zeros(1, 3, 40, 48), torch.zeros(1, 3, 40, 48))
    assert boxes[0, 1, 20:35, 25:44].all() and boxes[0, 1].sum() == 15 * 19  # object 1 first, as asked
    assert boxes[0, 2, 2:12, 3:15].all() and boxes[0, 2].sum() == 10 * 12


@pytest.mark.skipif(not hasattr(VideoPredictor, "canvas_onehot"), reason="the predictor has no canvas")
def test_boxes_live_on_the_networks_canvas(tiny_model):
    video = _Video()
    p = VideoPredictor(tiny_model, memory="mem", size=(32, 64))
    calls = _run(p, video, bounding_box_masks(video, p))
    for _, probs, boxes in calls:
        assert boxes.shape == probs.shape == (1, 3, 32, 64)
        assert torch.equal(boxes, mask_to_box(p.canvas_onehot(video.gt)))
        assert boxes[0, 1].any() and boxes[0, 2].any() and not (boxes[0, 1] * boxes[0, 2]).any()


@pytest.mark.parametrize("size", ["native", (32, 64)])
def test_model_masks_of_the_same_model_change_nothing(tiny_model, size):
    """The same model beside itself predicts what the predictor memorises anyway, in the same order."""
    video = _Video()
    if size != "native" and not hasattr(VideoPredictor, "canvas_onehot"):
        pytest.skip("the predictor has no canvas")
    p = VideoPredictor(tiny_model, memory="mem", size=size)
    calls = _run(p, video, model_masks(tiny_model)(video, p))
    assert len(calls) == 4
    for _, probs, theirs in calls:
        assert theirs.shape == probs.shape
        assert torch.equal(theirs, probs)
