"""XMem's working / long-term / sensory memory on random tensors (parity with XMem's own code: docs/xmem.md)."""

from __future__ import annotations

import math

import pytest
import torch

from erfkit.errors import ConfigError
from erfkit.inference.xmem_memory import KeyValueStore, XMemMemory, XMemMemoryConfig, XMemSchedule
from erfkit.model import xmem_memory_ops as ops

CK, CV, H, W = 8, 6, 5, 6
SMALL = XMemMemoryConfig(top_k=10, num_prototypes=12, min_mid_term_frames=3, max_mid_term_frames=6,
                         max_long_term_elements=50)


def frame(g: torch.Generator, objects: int, dtype=torch.float32):
    """key, shrinkage, selection, value as XMem's encoders give them (shrinkage >= 1, selection in (0, 1))."""
    key = torch.randn(1, CK, H, W, generator=g).to(dtype)
    shrinkage = (torch.randn(1, 1, H, W, generator=g) ** 2 + 1).to(dtype)
    selection = torch.sigmoid(torch.randn(1, CK, H, W, generator=g)).to(dtype)
    value = torch.randn(1, objects, CV, H, W, generator=g).to(dtype)
    return key, shrinkage, selection, value


def filled(config: XMemMemoryConfig, frames: int, *, later: dict[int, int] | None = None, seed: int = 0):
    """A memory after ``frames`` memorised frames, objects 1-2 from frame 0 and ``later``: frame -> new label."""
    g = torch.Generator().manual_seed(seed)
    memory = XMemMemory(config, hidden_dim=4)
    labels = [1, 2]
    for t in range(frames):
        if later and t in later:
            labels = labels + [later[t]]
        key, shrinkage, selection, value = frame(g, len(labels))
        if t:
            memory.match_memory(key, selection)
        memory.add_memory(key, shrinkage, value, labels, selection, frame=t)
    return memory, g


def readout_from(memory: XMemMemory, weights) -> torch.Tensor:
    """``[K, Cv, HW]``: every object's values laid over all memory columns, times the weights."""
    lay = weights.layout
    parts = []
    for g in range(len(lay.groups)):
        v = memory.working.values[g]
        if g < memory.long_term.num_groups:
            v = torch.cat([memory.long_term.values[g], v], -1)
        full = v.new_zeros(*v.shape[:2], lay.size)
        full[:, :, lay.group_columns(g)] = v
        parts.append(full)
    return torch.cat(parts) @ weights.affinity


# ------------------------------------------------------------------- maths
def test_the_similarity_is_the_shrunk_selected_negative_squared_distance():
    g = torch.Generator().manual_seed(1)
    mk, qk = torch.randn(2, CK, 7, generator=g), torch.randn(2, CK, 4, generator=g)
    s, e = torch.rand(2, 1, 7, generator=g) + 1, torch.rand(2, CK, 4, generator=g)
    sim = ops.similarity(mk, s, qk, e)
    brute = -(e[:, :, None] * (mk[:, :, :, None] - qk[:, :, None]) ** 2).sum(1) * s[:, 0, :, None] / math.sqrt(CK)
    torch.testing.assert_close(sim, brute)
    # without selection XMem leaves the query's squared norm out
    plain = ops.similarity(mk, None, qk, None)
    torch.testing.assert_close(plain, (2 * mk.transpose(1, 2) @ qk - mk.square().sum(1)[..., None]) / math.sqrt(CK))


def test_top_k_softmax_keeps_k_cells_per_query_and_is_the_softmax_when_k_covers_all():
    sim = torch.randn(1, 20, 9, dtype=torch.float64)
    a = ops.topk_softmax(sim, 4)
    torch.testing.assert_close(a.sum(1), torch.ones(1, 9, dtype=torch.float64))
    assert ((a > 0).sum(1) == 4).all()
    top = sim.topk(4, dim=1)
    torch.testing.assert_close(a.gather(1, top.indices), top.values.softmax(1))
    torch.testing.assert_close(ops.topk_softmax(sim, 20), sim.softmax(1))
    torch.testing.assert_close(ops.topk_softmax(sim, 50), sim.softmax(1))
    far = ops.topk_softmax(sim - 1e4, 4)  # an unshifted exp would underflow to 0/0
    torch.testing.assert_close(far, a)


# ------------------------------------------------------------------ config
@pytest.mark.parametrize("field,value", [("top_k", 0), ("mem_every", 0), ("deep_update_every", 0),
                                         ("deep_update_every", -2), ("num_prototypes", 0),
                                         ("min_mid_term_frames", 0), ("max_mid_term_frames", 5),
                                         ("max_long_term_elements", 127)])
def test_bad_settings_are_config_errors_naming_the_setting(field, value):
    with pytest.raises(ConfigError) as e:
        XMemMemoryConfig(**{field: value})
    assert e.value.option == field


def test_the_defaults_are_xmem_eval_and_usage_counting_follows_the_video_length():
    c = XMemMemoryConfig()
    assert (c.top_k, c.mem_every, c.deep_update_every, c.num_prototypes, c.min_mid_term_frames,
            c.max_mid_term_frames, c.max_long_term_elements) == (30, 5, -1, 128, 5, 10, 10000)
    assert c.enable_long_term and c.enable_long_term_count_usage and c.deep_update_sync
    # eval.py: count when frames / (T_max - T_min) * P >= LT_max, i.e. from 391 frames on
    assert not c.for_video(390).enable_long_term_count_usage
    assert c.for_video(391).enable_long_term_count_usage
    assert not XMemMemoryConfig(enable_long_term=False).for_video(5000).enable_long_term_count_usage


def test_the_schedule_memorises_every_mem_every_frames_and_given_masks():
    s = XMemSchedule(XMemMemoryConfig(mem_every=3))
    plans = [s.next(mask_given=t in (0, 4), all_objects_given=t == 0, end=t == 9) for t in range(10)]
    assert [p.memorise for p in plans] == [t in (0, 3, 4, 7) for t in range(10)]
    assert [p.segment for p in plans] == [t > 0 for t in range(10)]
    assert [p.deep_update for p in plans] == [p.memorise for p in plans]  # in sync
    assert [p.normal_update for p in plans] == [not p.memorise and t < 9 for t, p in enumerate(plans)]
    s = XMemSchedule(XMemMemoryConfig(mem_every=2, deep_update_every=3))
    plans = [s.next(mask_given=t == 0) for t in range(9)]
    assert [t for t, p in enumerate(plans) if p.memorise and p.deep_update] == [0, 4, 8]
    assert all(p.normal_update for p in plans)


# -------------------------------------------------------------------- read
def test_the_read_weights_sum_to_one_use_at_most_top_k_cells_and_give_the_readout():
    memory, g = filled(SMALL, 14, later={8: 3})
    assert memory.long_term.size and memory.working.num_groups == 2
    key, _, selection, _ = frame(g, 3)
    weights = memory.memory_weights(key, selection)
    K, N, HW = weights.affinity.shape
    assert (K, N, HW) == (3, memory.long_term.size + memory.working.size, H * W)
    torch.testing.assert_close(weights.affinity.sum(1), torch.ones(K, HW))
    assert int((weights.affinity > 0).sum(1).max()) <= SMALL.top_k
    readout = memory.match_memory(key, selection)
    assert readout.shape == (1, 3, CV, H, W)
    torch.testing.assert_close(readout_from(memory, weights), readout[0].flatten(2))
    # object 3 (a group of its own) reads only its group's columns, whose values all come from frames >= 8
    lay = weights.layout
    readable = lay.group_columns(1)
    assert not readable.all() and weights.affinity[2][~readable].abs().sum() == 0
    assert (lay.group_value_frames[1] >= 8).all() and len(lay.group_value_frames[1]) == int(readable.sum())
    shares = torch.cat([weights.long_term_share()[:, None], weights.frame_shares()], 1)
    torch.testing.assert_close(shares.sum(1), torch.ones(K, HW))
    cols = lay.frame_columns(lay.working_frames[-1])
    torch.testing.assert_close(weights.frame_shares()[:, -1], weights.affinity[:, cols].sum(1))


def test_weights_count_no_usage_and_a_read_counts_it():
    memory, g = filled(SMALL, 4)
    key, _, selection, _ = frame(g, 2)
    before = memory.working.use_count.clone(), memory.working.life_count.clone()
    memory.memory_weights(key, selection)
    assert torch.equal(memory.working.use_count, before[0]) and torch.equal(memory.working.life_count, before[1])
    weights = memory.memory_weights(key, selection)
    memory.match_memory(key, selection)
    torch.testing.assert_close(memory.working.use_count.flatten() - before[0].flatten(),
                               weights.affinity[0].sum(1))  # the first group's affinity, summed over pixels
    torch.testing.assert_close(memory.working.life_count, before[1] + 1)


def test_dtype_and_device_follow_the_tensors_usage_counts_stay_float32():
    g = torch.Generator().manual_seed(0)
    memory = XMemMemory(SMALL, hidden_dim=3)
    key, shrinkage, selection, value = frame(g, 2, torch.float64)
    hidden = memory.create_hidden_state(2, key)
    assert hidden.shape == (1, 2, 3, H, W) and hidden.dtype == torch.float64 and not hidden.any()
    memory.add_memory(key, shrinkage, value, [1, 2], selection)
    out = memory.match_memory(key, selection)
    assert out.dtype == torch.float64 and out.device == key.device
    assert memory.working.use_count.dtype == torch.float32


def test_misuse_is_refused():
    memory = XMemMemory(SMALL)
    g = torch.Generator().manual_seed(0)
    key, shrinkage, selection, value = frame(g, 2)
    with pytest.raises(ValueError, match="nothing is memorised"):
        memory.match_memory(key, selection)
    memory.add_memory(key, shrinkage, value, [1, 2], selection)
    with pytest.raises(ValueError, match="in memory but not"):
        memory.add_memory(key, shrinkage, value, [2], selection)
    with pytest.raises(ValueError, match="ascending"):
        memory.add_memory(key, shrinkage, value, [2, 1], selection)
    with pytest.raises(ValueError, match="memory holds"):
        memory.add_memory(key[..., :4], shrinkage[..., :4], value[..., :4], [1, 2], selection[..., :4])
    with pytest.raises(ConfigError):
        XMemMemory(SMALL, hidden_dim=-1)


# --------------------------------------------------------------- long term
@pytest.mark.parametrize("config,hw", [(SMALL, (H, W)), (XMemMemoryConfig(max_long_term_elements=700), (6, 6))],
                         ids=["small", "defaults-LTmax700"])
def test_long_term_consolidation_over_a_long_sequence(config, hw):
    """200 frames, every ``mem_every``-th memorised (40 memory frames), as XMem's inference core does."""
    g = torch.Generator().manual_seed(3)
    memory = XMemMemory(config, hidden_dim=2)
    schedule = XMemSchedule(config)
    n_hw = hw[0] * hw[1]
    sizes, memorised = [], []
    for t in range(40 * config.mem_every):
        plan = schedule.next(mask_given=t == 0, all_objects_given=t == 0)
        key = torch.randn(1, CK, *hw, generator=g)
        selection = torch.sigmoid(torch.randn(1, CK, *hw, generator=g))
        if plan.segment:
            assert memory.match_memory(key, selection).shape == (1, 2, CV, *hw)
        if plan.memorise:
            shrinkage = torch.randn(1, 1, *hw, generator=g) ** 2 + 1
            before, rounds = memory.long_term.size, memory.num_consolidations
            memory.add_memory(key, shrinkage, torch.randn(1, 2, CV, *hw, generator=g), [1, 2], selection, frame=t)
            memorised.append(t)
            assert memory.num_working_frames <= config.max_mid_term_frames
            assert memory.working_frames[0] == 0  # the first frame never leaves
            assert memory.long_term.size <= config.max_long_term_elements
            if memory.num_consolidations > rounds:
                assert memory.num_working_frames == config.min_mid_term_frames
                assert memory.working_frames[1:] == memorised[-(config.min_mid_term_frames - 1):]
                if before + config.num_prototypes <= config.max_long_term_elements:
                    assert memory.long_term.size == before + config.num_prototypes
                sizes.append(memory.long_term.size)
            else:
                assert memory.long_term.size == before
    assert len(memorised) == 40
    per_round = config.max_mid_term_frames - config.min_mid_term_frames
    assert memory.num_consolidations == (40 - config.min_mid_term_frames) // per_round
    assert max(sizes) > config.max_long_term_elements - config.num_prototypes  # a removal was needed
    lt = memory.long_term
    assert lt.key.shape[-1] == lt.shrinkage.shape[-1] == lt.values[0].shape[-1] == lt.use_count.shape[-1]
    assert lt.selection is None and (lt.shrinkage >= 1 - 1e-6).all()  # potentiated: convex mixes of s >= 1
    assert (memory.layout().cell_pixel < n_hw).all()


def test_prototypes_are_the_most_used_candidate_keys_with_potentiated_values():
    """Frames 1 .. T_max - T_min are the candidates; their P most used cells become prototypes."""
    g = torch.Generator().manual_seed(2)
    memory = XMemMemory(SMALL)
    frames = []
    for t in range(SMALL.max_mid_term_frames):
        frames.append(frame(g, 2))
        key, shrinkage, selection, value = frames[-1]
        if t:
            memory.match_memory(key, selection)
        if t == SMALL.max_mid_term_frames - 1:
            hw = H * W
            last_candidate = SMALL.max_mid_term_frames - SMALL.min_mid_term_frames
            usage = memory.working.usage().flatten()[hw:(last_candidate + 1) * hw]
            expected = usage.topk(SMALL.num_prototypes).indices + hw
            expected = list(zip((expected // hw).tolist(), (expected % hw).tolist()))
        memory.add_memory(key, shrinkage, value, [1, 2], selection)
    assert memory.num_consolidations == 1 and memory.long_term.size == SMALL.num_prototypes
    lay = memory.layout()
    chosen = list(zip(lay.cell_frame[lay.long_term].tolist(), lay.cell_pixel[lay.long_term].tolist()))
    assert chosen == expected  # most used first
    assert lay.working_frames == (0, 4, 5)
    candidates = frames[1:4]
    cand_s = torch.cat([f[1].flatten(2) for f in candidates], -1)
    cand_v = torch.cat([f[3][0].flatten(2) for f in candidates], -1)  # [2, Cv, 3HW]
    for i, (t, pixel) in enumerate(chosen):
        torch.testing.assert_close(memory.long_term.key[0, :, i], frames[t][0].flatten(2)[0, :, pixel])
    s, v = memory.long_term.shrinkage, memory.long_term.values[0]
    assert (s >= cand_s.min() - 1e-6).all() and (s <= cand_s.max() + 1e-6).all()  # convex mixes
    assert (v >= cand_v.amin(-1, keepdim=True) - 1e-5).all() and (v <= cand_v.amax(-1, keepdim=True) + 1e-5).all()


def test_without_long_term_memory_working_memory_grows():
    memory, _ = filled(XMemMemoryConfig(enable_long_term=False, enable_long_term_count_usage=False), 25)
    assert memory.num_working_frames == 25 and memory.long_term.size == 0
    assert memory.working.use_count is None and memory.working.selection is None


def test_min_mid_term_frames_1_keeps_only_the_first_frame():
    memory, _ = filled(XMemMemoryConfig(top_k=5, num_prototypes=8, min_mid_term_frames=1, max_mid_term_frames=3), 7)
    assert memory.working_frames == [0] and memory.long_term.size == 24


def test_a_full_long_term_memory_without_usage_counts_is_a_config_error():
    config = XMemMemoryConfig(top_k=5, num_prototypes=12, min_mid_term_frames=2, max_mid_term_frames=4,
                              max_long_term_elements=24, enable_long_term_count_usage=False)
    with pytest.raises(ConfigError) as e:
        filled(config, 12)
    assert e.value.option == "enable_long_term_count_usage"


def test_removal_drops_the_least_used_and_keeps_later_groups_on_the_last_keys():
    store = KeyValueStore(count_usage=True)
    key = torch.arange(6.0).view(1, 1, 6)
    store.add_groups(key, torch.ones(1, 1, 6), [key.clone(), key[:, :, 2:].clone()], [(1,), (2,)],
                     torch.arange(6), torch.zeros(6, dtype=torch.long), [torch.arange(6), torch.arange(2, 6)])
    store.update_usage(torch.tensor([5.0, 0.1, 4.0, 0.2, 3.0, 6.0]))
    store.remove_obsolete(4)
    assert store.key.flatten().tolist() == [0, 2, 4, 5]
    assert store.values[0].flatten().tolist() == [0, 2, 4, 5]
    assert store.values[1].flatten().tolist() == [2, 4, 5]  # still the values of the last keys
    assert store.cell_frame.tolist() == [0, 2, 4, 5] and store.value_frames[1].tolist() == [2, 4, 5]


# ----------------------------------------------------------- later objects
def test_objects_that_appear_later_get_their_own_group_values_and_hidden_state():
    g = torch.Generator().manual_seed(5)
    memory = XMemMemory(SMALL, hidden_dim=4)
    key, shrinkage, selection, value = frame(g, 2)
    memory.create_hidden_state(2, key)
    memory.add_memory(key, shrinkage, value, [1, 2], selection)
    memory.hidden = torch.randn(1, 2, 4, H, W, generator=g)
    old_hidden = memory.hidden.clone()
    for t in range(1, 3):
        key, shrinkage, selection, value = frame(g, 2)
        assert memory.match_memory(key, selection).shape == (1, 2, CV, H, W)
        memory.add_memory(key, shrinkage, value, [1, 2], selection)
    key, shrinkage, selection, value = frame(g, 3)
    memory.create_hidden_state(3, key)
    assert torch.equal(memory.hidden[:, :2], old_hidden) and not memory.hidden[:, 2].any()
    memory.add_memory(key, shrinkage, value, [1, 2, 3], selection)
    assert memory.objects == [1, 2, 3] and memory.working.groups == [(1, 2), (3,)]
    assert memory.working.group_size(1) == H * W and memory.working.group_size(0) == 4 * H * W
    torch.testing.assert_close(memory.working.values[1], value[0, 2:].flatten(2))
    q, _, qe, _ = frame(g, 3)
    out = memory.match_memory(q, qe)
    assert out.shape == (1, 3, CV, H, W)
    # with one frame of its own, object 3 reads that frame only
    torch.testing.assert_close(out[0, 2].flatten(1),
                               value[0, 2].flatten(1) @ ops.topk_softmax(
                                   ops.similarity(key.flatten(2), shrinkage.flatten(2), q.flatten(2),
                                                          qe.flatten(2)), SMALL.top_k)[0])
    second = XMemMemory(SMALL)
    second.add_memory(key, shrinkage, value, [2], selection)
    with pytest.raises(ValueError, match="larger labels"):
        second.add_memory(key, shrinkage, value, [1, 2], selection)


def test_after_a_consolidation_a_later_group_reads_its_first_frame_through_the_first_frame_key():
    """XMem's pairing of a group's values with the last keys: kept, and visible in the layout."""
    memory, _ = filled(SMALL, 12, later={8: 3})  # consolidations at frames 5 and 11
    lay = memory.layout()
    assert lay.working_frames == (0, 10, 11)
    assert lay.group_working == (3 * H * W, 3 * H * W)
    assert lay.group_value_frames[1][:H * W].eq(8).all()  # object 3's first value is frame 8's...
    assert lay.cell_frame[lay.num_long_term:][:H * W].eq(0).all()  # ...paired with frame 0's key
    assert lay.group_value_frames[0][lay.num_long_term:].tolist() == lay.cell_frame[lay.num_long_term:].tolist()


def test_later_groups_enter_long_term_memory_and_survive_a_removal():
    """XMem raises NotImplementedError at a removal with several groups; this memory goes on."""
    config = XMemMemoryConfig(top_k=10, num_prototypes=12, min_mid_term_frames=2, max_mid_term_frames=4,
                              max_long_term_elements=40)
    memory, g = filled(config, 30, later={3: 3})
    assert memory.long_term.num_groups == 2 and memory.long_term.size <= 40
    assert memory.long_term.group_size(1) <= memory.long_term.size
    key, _, selection, _ = frame(g, 3)
    weights = memory.memory_weights(key, selection)
    torch.testing.assert_close(weights.affinity.sum(1), torch.ones(3, H * W))
    torch.testing.assert_close(readout_from(memory, weights), memory.match_memory(key, selection)[0].flatten(2))


def test_a_read_can_return_its_weights_without_reading_twice():
    memory, g = filled(SMALL, 9, later={4: 3})
    key, _, selection, _ = frame(g, 3)
    before = memory.memory_weights(key, selection)
    count = memory.working.use_count.clone()
    readout, weights = memory.match_memory(key, selection, weights=True)
    assert torch.equal(weights.affinity, before.affinity) and weights.layout.working_frames == before.layout.working_frames
    assert not torch.equal(memory.working.use_count, count)  # the read counted its usage
    torch.testing.assert_close(readout_from(memory, weights), readout[0].flatten(2))
