"""The dotted grid of the maps on real frames is the network's stride, not our drawing (issue 30).

A strided convolution's gradient reaches the input pixels through a different number of kernel taps by their
position modulo the stride: cycle-ERF on the network's canvas follows a 2-pixel grid (stm-lite0's first
memory-encoder convolution has stride 2), which the 2x bilinear resize to the file's size draws as a 4-pixel
dotted grid.  The resize itself adds none.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from erfkit.dashboard.settings import DEFAULT_CHECKPOINTS
from erfkit.data import DavisDataset
from erfkit.data.letterbox import Letterbox
from erfkit.explain.cycle import CycleERFConfig, cycle_erf
from erfkit.explain.metrics import stride_pattern
from erfkit.model.checkpoint import checkpoint_input_size, load_checkpoint
from erfkit.tensors import frame_tensor, onehot


def test_cycle_erf_on_the_canvas_follows_the_stride_and_the_drawing_adds_no_grid(real_frames):
    seq = DavisDataset(real_frames, "val")["dog"]
    model = load_checkpoint(DEFAULT_CHECKPOINTS[1])  # stm-lite0-cyclic
    box = Letterbox.fit(seq.size, checkpoint_input_size(model))
    x = box.image(frame_tensor(seq.read_frame(1), "cpu"))
    x_t = box.image(frame_tensor(seq.read_frame(0), "cpu"))
    y_t = box.mask(onehot(np.where(seq.read_annotation(0) == 255, 0, seq.read_annotation(0)), [1], "cpu"))
    canvas = cycle_erf(model, x, x_t, y_t, CycleERFConfig(steps=3, batch_size=1)).maps[0, 0]
    rows2, cols2 = stride_pattern(canvas, 2)
    rows3, cols3 = stride_pattern(canvas, 3)
    assert rows2 > 0.1 and max(rows3, cols3) < 0.03, (rows2, cols2, rows3, cols3)  # a grid of 2, not of 3
    drawn = box.map_to_frame(canvas)  # 240x427 -> 480x854: the grid of 2 becomes one of 4 file pixels
    assert stride_pattern(drawn, 4)[0] > 0.05 and max(stride_pattern(drawn, 5)) < 0.03
    smooth = torch.from_numpy(ndimage.gaussian_filter(np.random.default_rng(0).random(canvas.shape), 4)).float()
    assert max(stride_pattern(box.map_to_frame(smooth), 4)) < 1e-3  # the resize draws no grid of its own
