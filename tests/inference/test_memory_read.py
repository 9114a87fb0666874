"""What a predictor's next frame reads, unit by unit (``memory_read``): STM's memory frames, XMem's working frames
and long-term prototypes, in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from erfkit.errors import ConfigError, DataError
from erfkit.explain.memory import memory_attention
from erfkit.inference import VideoPredictor, XMemMemoryConfig, XMemPredictor
from erfkit.model import build_model

from .test_xmem_predictor import frames, two_objects

H, W = 32, 48
#: long-term memory after a few frames: every frame memorised, consolidated past 4 working frames
LONG_TERM = XMemMemoryConfig(mem_every=1, min_mid_term_frames=2, max_mid_term_frames=4, num_prototypes=6, top_k=8)


@pytest.fixture(scope="module")
def xmem64():
    return build_model("xmem-tiny", seed=0).double()


@pytest.fixture(scope="module")
def stm64():
    return build_model("stm-tiny", seed=0).double()


def run(predictor, video: list[np.ndarray], t: int):
    """The predictor after frames ``0 .. t-1`` (objects 4 and 9 given on frame 0)."""
    predictor.reset()
    for i in range(t):
        predictor.step(video[i], two_objects(H, W) if i == 0 else None)
    return predictor


def test_xmem_units_are_working_frames_and_the_long_term_memory(xmem64):
    video = frames(10, H, W)
    p = run(XMemPredictor(xmem64, LONG_TERM), video, 9)
    read = p.memory_read(video[9])
    lt, *working = read.units
    assert lt.kind == "long-term" and lt.frame is None and lt.cells == p.memory.long_term.size > 0
    assert set(lt.origins) <= set(range(1, 9)) and 0 not in lt.origins  # frame 0 is never consolidated
    assert [u.frame for u in working] == p.memory_frames and all(u.kind == "frame" for u in working)
    assert torch.bincount(read.cell_unit).tolist() == [u.cells for u in read.units]
    for obj in (4, 9):
        k = read.slot(obj)
        region = torch.zeros(H, W, dtype=torch.bool)
        region[5:20, 10:30] = True
        for where in (region, (12, 40)):
            share = read.shares(k, where)
            assert share.shape == (len(read.units),) and (share >= 0).all()
            assert float(share.sum()) == pytest.approx(1, abs=1e-12)
        maps = read.maps(k, (12, 40))
        assert maps.shape == (len(read.units), H, W) and (maps >= 0).all()
    # the whole read is the next step's output; reading changed nothing
    assert np.array_equal(read.labels(), p.labels(p.step(video[9])))
    with pytest.raises(ConfigError, match="object 5"):
        read.slot(5)
    with pytest.raises(ConfigError, match="unit 9"):
        read.labels(without=9)
    with pytest.raises(DataError, match="the frame is"):
        p.memory_read(frames(1, H + 16, W)[0])


def test_xmem_leaving_a_unit_out_renormalises_the_read(xmem64):
    """With every cell read (top-k above the memory's size), a read without a unit is the full read's weights
    on the other cells, renormalised: the softmax over what is left."""
    video = frames(10, H, W)
    config = XMemMemoryConfig(mem_every=1, min_mid_term_frames=2, max_mid_term_frames=4, num_prototypes=6,
                              top_k=10_000)
    p = run(XMemPredictor(xmem64, config), video, 9)
    memory = p.memory
    image, _ = xmem64.prepare_frame(torch.as_tensor(video[9]).permute(2, 0, 1)[None].double() / 255)
    key, _, selection, *_ = xmem64.encode_key(image, need_sk=False, need_ek=True)
    weights = memory.memory_weights(key, selection)
    layout = weights.layout
    assert layout.num_long_term > 0
    full = memory.read(key, selection)
    units = [layout.long_term, layout.frame_columns(layout.working_frames[-1])]
    for cells in units:
        leave_out = torch.zeros(layout.size, dtype=torch.bool)
        leave_out[cells] = True
        a = weights.affinity[0].masked_fill(leave_out[:, None], 0)  # [N_mem, HW], both objects read alike
        a = a / a.sum(0, keepdim=True)
        for slot in range(2):
            values = memory._group_values(0)[slot]  # [Cv, N_mem]: one group, long-term first
            expected = (values @ a).view_as(full[0, slot])
            got = memory.read(key, selection, leave_out=leave_out)[0, slot]
            assert torch.allclose(got, expected, atol=1e-12, rtol=0)
            assert not torch.allclose(got, full[0, slot], atol=1e-6)  # the unit mattered


def test_stm_units_are_its_memory_frames(stm64):
    video = frames(8, H, W)
    p = run(VideoPredictor(stm64, size="native"), video, 7)
    read = p.memory_read(video[7])
    mem, memory_frames = p.current_memory()
    assert [u.frame for u in read.units] == memory_frames == [0, 5, 6] and {u.kind for u in read.units} == {"frame"}
    region = torch.zeros(H, W, dtype=torch.bool)
    region[20:30, 28:45] = True
    q = stm64.encode_query(torch.as_tensor(video[7]).permute(2, 0, 1)[None].double() / 255)
    for obj in (4, 9):
        k = read.slot(obj)
        for where in (region, (25, 31)):  # the model-level read gives the same shares and maps
            att = memory_attention(stm64, mem, q, where, object=k)
            assert torch.allclose(read.shares(k, where), att.frame_mass, atol=1e-12)
            assert torch.allclose(read.maps(k, where), att.maps, atol=1e-12)
    assert np.array_equal(read.labels(), p.labels(p.step(video[7])))
    without = read.labels(without=2)
    assert without.shape == (H, W)


def test_a_propagator_without_memory_says_so():
    from erfkit.inference import CopyFirst

    with pytest.raises(ConfigError, match="reads no memory"):
        CopyFirst().memory_read(frames(1, H, W)[0])
