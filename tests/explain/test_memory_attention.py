"""memory_attention: the memory read's own softmax row, per object, at a point or a region."""

from __future__ import annotations

import pytest
import torch

from erfkit.errors import ConfigError
from erfkit.explain.memory import memory_attention
from erfkit.model import Memory, build_model
from erfkit.model.stm import read_memory
from erfkit.tensors import onehot


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = build_model("stm-tiny", seed=0).double().eval()
    H, W = 40, 72  # padded to 48x80: the padding is cropped from the maps
    frames = torch.rand(3, 3, H, W, dtype=torch.float64)
    labels = torch.zeros(H, W, dtype=torch.long)
    labels[5:20, 10:30], labels[22:35, 40:65] = 1, 2
    y = onehot(labels, [1, 2], "cpu", torch.float64)
    with torch.no_grad():
        memory = Memory.cat([model.memorize(frames[i:i + 1], y) for i in range(2)])
    return model, memory, frames[2:3], labels


def test_weights_are_the_reads_softmax_row(setup):
    model, memory, frame, _ = setup
    q = model.encode_query(frame)
    for k in (0, 1):
        att = memory_attention(model, memory, frame, (13, 50), object=k)
        T, h, w = att.weights.shape
        assert (T, h, w) == (2, 3, 5) and att.maps.shape == (2, 40, 72)
        assert torch.isclose(att.weights.sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(att.frame_mass, att.weights.sum((1, 2))) and abs(float(att.frame_mass.sum()) - 1) < 1e-12
        # the point (13, 50) + padding (4, 4) lies in cell (17 // 16, 54 // 16) = (1, 3): the read there is
        # the memory's values weighted by exactly these weights
        (cy, cx), = att.cells.tolist()
        assert (cy, cx) == (1, 3)
        Cv = memory.values.shape[2]
        read = read_memory(memory, q.key, q.value)[0, k, :Cv, cy, cx]
        mine = (memory.values[0, k].reshape(Cv, -1) * att.weights.reshape(1, -1)).sum(1)
        assert torch.allclose(read, mine, atol=1e-12)
        # maps: each cell's weight over its 16x16 pixels, padding cropped
        assert torch.equal(att.maps[:, 0, 0], att.weights[:, 0, 0]) and torch.equal(att.maps[:, 39, 71],
                                                                                   att.weights[:, 2, 4])


def test_a_region_gives_the_pixel_weighted_mean_row(setup):
    model, memory, frame, labels = setup
    region = labels == 2
    att = memory_attention(model, memory, frame, region, object=1)
    points = [memory_attention(model, memory, frame, (int(y), int(x)), object=1).weights
              for y, x in torch.nonzero(region)]
    assert torch.allclose(att.weights, torch.stack(points).mean(0), atol=1e-12)
    assert abs(float(att.frame_mass.sum()) - 1) < 1e-12 and len(att.cells) > 1


def test_bad_points_objects_and_regions_are_clear(setup):
    model, memory, frame, _ = setup
    with pytest.raises(ConfigError, match="outside the 72x40 frame"):
        memory_attention(model, memory, frame, (40, 3))
    with pytest.raises(ConfigError, match="object slot 2 outside"):
        memory_attention(model, memory, frame, (3, 3), object=2)
    with pytest.raises(ConfigError, match="region is empty"):
        memory_attention(model, memory, frame, torch.zeros(40, 72, dtype=torch.bool))
