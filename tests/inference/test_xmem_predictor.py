"""XMem's predictor on the tiny XMem: padding, given masks, late objects, consolidation, dtype, dispatch, CLI.

Parity with XMem's own evaluation on real frames was checked outside the project (docs/xmem.md says how).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from erfkit.cli import main
from erfkit.data import DavisDataset
from erfkit.errors import ConfigError, DataError
from erfkit.inference import GCConfig, VideoPredictor, XMemMemoryConfig, XMemPredictor, segment_sequence
from erfkit.model import build_model
from erfkit.model.checkpoint import load_checkpoint, save_checkpoint

H, W = 37, 53  # padded to 48x64: (left, right, top, bottom) = (5, 6, 5, 6)


@pytest.fixture(scope="module")
def xmem_model():
    return build_model("xmem-tiny", seed=0)


@pytest.fixture(scope="module")
def video(tiny_synth):
    ds = DavisDataset(tiny_synth, "val")
    return ds[ds.names[0]]


def frames(n: int, h: int = H, w: int = W, seed: int = 0) -> list[np.ndarray]:
    """A smooth moving pattern (so keys vary smoothly), ``n`` frames ``[h, w, 3]`` uint8."""
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for t in range(n):
        img = np.stack([np.sin((x + 2 * t) / 5), np.cos((y - t) / 4), np.sin((x + y + 3 * t) / 7)], -1)
        out.append(((img + 1) * 127.5).astype(np.uint8))
    return out


def two_objects(h: int = H, w: int = W, ids=(4, 9)) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    mask[3:17, 4:22] = ids[0]
    mask[20:33, 30:50] = ids[1]
    return mask


def test_outputs_are_at_the_files_size_and_a_distribution(xmem_model):
    p = XMemPredictor(xmem_model, mem_every=2)
    mask = two_objects()
    for t, f in enumerate(frames(5)):
        probs = p.step(f, mask if t == 0 else None)
        assert probs.shape == (3, H, W) and probs.dtype == torch.float32
        assert not probs.requires_grad
        torch.testing.assert_close(probs.sum(0), torch.ones(H, W), atol=1e-5, rtol=0)
        assert set(np.unique(p.labels(probs))) <= {0, 4, 9}
    assert p.padding == (5, 6, 5, 6)  # XMem's pad_divide_by: centred, the odd pixel after
    assert p.object_ids == [4, 9] and p.frame_index == 5
    assert p.memory_frames == [0, 2, 4]  # every mem_every-th frame
    assert p.memory.hidden.shape == (1, 2, xmem_model.config.hidden_dim, 3, 4)
    p.reset()
    assert p.frame_index == 0 and p.memory_frames == [] and p.padding is None
    assert XMemPredictor(xmem_model).step(frames(1, 32, 48)[0], two_objects(32, 48)).shape == (3, 32, 48)


def test_the_first_frame_returns_the_given_mask(xmem_model):
    p = XMemPredictor(xmem_model)
    mask = two_objects()
    mask[0, 0] = 255  # void: not an object
    probs = p.step(frames(1)[0], mask)
    assert np.array_equal(p.labels(probs), np.where(mask == 255, 0, mask))
    hot = torch.stack([torch.as_tensor(np.isin(mask, (0, 255))), torch.as_tensor(mask == 4),
                       torch.as_tensor(mask == 9)]).float()
    torch.testing.assert_close(probs, hot, atol=1e-6, rtol=0)  # XMem's soft aggregation of the one-hot mask
    assert p.last_plan.memorise and not p.last_plan.segment


def test_an_object_given_on_a_later_frame(xmem_model):
    p = XMemPredictor(xmem_model, mem_every=3)
    video = frames(8)
    first = np.where(two_objects() == 4, 4, 0).astype(np.uint8)
    p.step(video[0], first)
    for t in (1, 2):
        assert p.step(video[t]).shape == (2, H, W)
    late = np.zeros((H, W), np.uint8)
    late[22:34, 28:48] = 12
    probs = p.step(video[3], late)  # not a mem_every frame: the given mask makes it one
    assert p.object_ids == [4, 12] and probs.shape == (3, H, W)
    assert p.last_plan.segment and p.last_plan.memorise  # object 4 is still segmented
    assert (p.labels(probs)[22:34, 28:48] == 12).all()
    assert (probs[1][22:34, 28:48] < 1e-6).all()  # where the mask labels a pixel, object 4 is absent
    assert p.memory.objects == [1, 2] and p.memory.working.groups == [(1,), (2,)]  # labels 1..K, one group each
    assert p.memory.hidden.shape[1] == 2  # a sensory memory for the new object (zeros, then deep-updated)
    for t in range(4, 8):
        probs = p.step(video[t])
        assert probs.shape == (3, H, W)
    assert p.memory_frames == [0, 3, 6]  # memorised since the given frame: 3, then 6
    # giving a tracked object again adds none
    p.step(video[0], first)
    assert p.object_ids == [4, 12] and p.memory.working.groups == [(1,), (2,)]


def test_long_video_consolidates_into_long_term_memory(xmem_model):
    config = XMemMemoryConfig(mem_every=1, min_mid_term_frames=2, max_mid_term_frames=4, num_prototypes=4,
                              max_long_term_elements=16, top_k=8)
    p = XMemPredictor(xmem_model, config)
    working, long_term = [], []
    for t, f in enumerate(frames(60, 32, 48)):
        p.step(f, two_objects(32, 48) if t == 0 else None)
        working.append(len(p.memory_frames))
        long_term.append(p.memory.long_term.size)
    assert max(working) <= config.max_mid_term_frames and p.memory_frames[0] == 0
    assert p.memory.num_consolidations >= 25 and 0 < p.memory.long_term.size <= config.max_long_term_elements
    assert max(long_term) == config.max_long_term_elements  # full, then the least used are removed
    assert p.memory_frames[1:] == list(range(61 - len(p.memory_frames), 60))  # the first, then the latest


def test_float64_in_float64_out_and_close_to_float32(xmem_model):
    model64 = build_model("xmem-tiny", seed=0).double()
    p64, p32 = XMemPredictor(model64, mem_every=2), XMemPredictor(xmem_model, mem_every=2)
    mask = two_objects()
    for t, f in enumerate(frames(4)):
        a, b = p64.step(f, mask if t == 0 else None), p32.step(f, mask if t == 0 else None)
        assert a.dtype == torch.float64 and b.dtype == torch.float32
        torch.testing.assert_close(a.float(), b, atol=1e-4, rtol=0)
    assert p64.memory.working.key.dtype == torch.float64 and p64.memory.hidden.dtype == torch.float64


def test_frame_tensors_and_uint8_frames_agree(xmem_model):
    a, b = XMemPredictor(xmem_model), XMemPredictor(xmem_model)
    mask = two_objects()
    for t, f in enumerate(frames(3)):
        x = torch.from_numpy(f).permute(2, 0, 1).float() / 255
        torch.testing.assert_close(a.step(f, mask if t == 0 else None), b.step(x, mask if t == 0 else None))


def test_read_weights_are_kept_on_request(xmem_model):
    p = XMemPredictor(xmem_model, keep_weights=True, mem_every=1)
    video = frames(4)
    p.step(video[0], two_objects())
    assert p.last_weights is None  # nothing was read
    for f in video[1:]:
        p.step(f)
    w = p.last_weights
    assert w.affinity.shape == (2, 3 * 12, 12)  # 2 objects, frames 0..2 of 3x4 cells, 3x4 query pixels
    torch.testing.assert_close(w.affinity.sum(1), torch.ones(2, 12))
    assert w.layout.working_frames == (0, 1, 2)
    assert XMemPredictor(xmem_model).last_weights is None


def test_bad_input_is_refused(xmem_model):
    p = XMemPredictor(xmem_model, max_objects=1)
    with pytest.raises(DataError, match="first frame needs a mask"):
        p.step(frames(1)[0])
    with pytest.raises(DataError, match="more than the 1 allowed"):
        p.step(frames(1)[0], two_objects())
    p = XMemPredictor(xmem_model)
    p.step(frames(1)[0], two_objects())
    with pytest.raises(DataError, match="video started at"):
        p.step(frames(1, 32, 48)[0])
    with pytest.raises(DataError, match="mask is"):
        p.step(frames(1)[0], np.zeros((5, 5), np.uint8))


# ------------------------------------------------------------------ dispatch
def test_video_predictor_of_an_xmem_is_an_xmem_predictor(xmem_model, tiny_model):
    p = VideoPredictor(xmem_model, mem_every=3, top_k=7, max_objects=4, size="native")
    assert type(p) is XMemPredictor and isinstance(p, XMemPredictor)
    assert p.config == XMemMemoryConfig(mem_every=3, top_k=7) and p.max_objects == 4
    config = XMemMemoryConfig(num_prototypes=16, max_long_term_elements=64)
    assert VideoPredictor(xmem_model, config).config == config
    assert type(VideoPredictor(tiny_model)) is VideoPredictor  # an STM keeps STM's predictor
    assert VideoPredictor(xmem_model, gc=GCConfig(iters=2, every=3)).gc == GCConfig(iters=2, every=3)
    settings = VideoPredictor(xmem_model).settings()
    assert settings["predictor"] == "xmem" and settings["xmem_memory"]["top_k"] == 30
    assert json.loads(json.dumps(settings)) == settings  # as a results folder's manifest reads it back


@pytest.mark.parametrize("option", [dict(memory="mem"), dict(memory="first"), dict(max_memory_frames=3),
                                    dict(memory_masks=lambda t, x, p: p)],
                         ids=["memory", "memory-first", "max_memory_frames", "memory_masks"])
def test_stm_only_options_are_refused_for_an_xmem(xmem_model, option):
    with pytest.raises(ConfigError, match="STM's predictor options") as e:
        VideoPredictor(xmem_model, **option)
    assert e.value.option == next(iter(option))


def test_other_misuse_is_refused(xmem_model, tiny_model):
    with pytest.raises(ConfigError, match="XMemMemoryConfig"):
        VideoPredictor(xmem_model, "mem")  # STM's strategy given by position
    with pytest.raises(ConfigError) as e:
        VideoPredictor(xmem_model, size="240x427")
    assert e.value.option == "size"
    with pytest.raises(ConfigError, match="unknown XMem predictor settings"):
        VideoPredictor(xmem_model, top_kk=3)
    with pytest.raises(ConfigError) as e:
        VideoPredictor(xmem_model, min_mid_term_frames=10)  # not below max_mid_term_frames (10)
    assert e.value.option == "max_mid_term_frames"
    with pytest.raises(ConfigError, match="runs an XMem"):
        XMemPredictor(tiny_model)

    class Mine(VideoPredictor):
        pass

    with pytest.raises(ConfigError, match="runs with XMemPredictor"):
        Mine(xmem_model)


# ------------------------------------------------------------------- videos
def test_propagate_segments_a_video(xmem_model, video, tmp_path):
    p = VideoPredictor(xmem_model, mem_every=3)
    stats, labels = segment_sequence(p, video, tmp_path, keep=True)
    assert stats.frames == len(video) == len(labels)
    assert np.array_equal(labels[0], video.prompt(0))
    assert sorted(q.name for q in tmp_path.iterdir()) == [f"{n}.png" for n in video.frame_names]
    assert p.memory_frames == [t for t in range(len(video)) if t % 3 == 0]


@pytest.fixture(scope="module")
def xmem_checkpoints(tmp_path_factory, xmem_model):
    """The tiny XMem in our format and in XMem's released format (a bare state dict, torch.save)."""
    root = tmp_path_factory.mktemp("xmem-ck")
    ours = save_checkpoint(xmem_model, root / "xmem-tiny")
    released = root / "XMem-tiny.pth"
    torch.save(xmem_model.state_dict(), released)
    assert load_checkpoint(released).checkpoint.format == "xmem-released"
    return {"safetensors": ours, "released": released}


@pytest.mark.parametrize("fmt", ["safetensors", "released"])
def test_erfkit_segment_runs_an_xmem_checkpoint(tmp_path, tiny_synth, xmem_checkpoints, fmt, capsys):
    out = tmp_path / "res"
    args = ["segment", "--checkpoint", str(xmem_checkpoints[fmt]), "--data", str(tiny_synth), "--out", str(out),
            "--top-k", "10", "--mem-every", "2", "--num-prototypes", "8", "--max-long-term-elements", "64",
            "--min-mid-term-frames", "2", "--max-mid-term-frames", "3", "--deep-update-every", "2"]
    assert main(args) == 0
    names = (tiny_synth / "ImageSets" / "2017" / "val.txt").read_text().split()
    for n in names:
        jpgs = sorted((tiny_synth / "JPEGImages" / "64p" / n).glob("*.jpg"))
        assert [p.stem for p in sorted((out / n).glob("*.png"))] == [p.stem for p in jpgs]
    manifest = json.loads((out / ".erfkit-segment.json").read_text())
    assert manifest["predictor"] == "xmem" and manifest["xmem_memory"]["top_k"] == 10
    assert manifest["xmem_memory"]["deep_update_every"] == 2
    capsys.readouterr()
    assert main(args) == 0  # the same settings: nothing to redo
    assert f"{len(names)} already complete" in capsys.readouterr().out
    assert main(["segment", "--checkpoint", str(xmem_checkpoints[fmt]), "--data", str(tiny_synth),
                 "--out", str(tmp_path / "nolt"), "--no-long-term", "--sequences", names[0]]) == 0
    assert main(["segment", "--checkpoint", str(xmem_checkpoints[fmt]), "--data", str(tiny_synth),
                 "--out", str(tmp_path / "gc"), "--gc-iters", "2", "--gc-every", "3", "--sequences", names[0]]) == 0
    gc = json.loads((tmp_path / "gc" / ".erfkit-segment.json").read_text())["gc"]
    assert (gc["iters"], gc["every"]) == (2, 3)


def test_erfkit_segment_refuses_options_of_the_other_model(tmp_path, tiny_synth, xmem_checkpoints, tiny_model,
                                                           capsys):
    xmem = str(xmem_checkpoints["safetensors"])
    base = ["segment", "--data", str(tiny_synth), "--out", str(tmp_path / "o")]
    for extra in (["--memory", "first"], ["--memory-cap", "3"], ["--size", "64x112"]):
        assert main(base + ["--checkpoint", xmem, *extra]) == 2
        err = capsys.readouterr().err
        assert extra[0] in err and "Traceback" not in err and err.count("\n") == 1, err
    assert main(base + ["--checkpoint", xmem, "--max-mid-term-frames", "3"]) == 2  # not above T_min (5)
    assert "--max-mid-term-frames" in capsys.readouterr().err
    stm = save_checkpoint(tiny_model, tmp_path / "stm")
    assert main(base + ["--checkpoint", str(stm), "--top-k", "5", "--no-long-term"]) == 2
    err = capsys.readouterr().err
    assert "--top-k" in err and "--no-long-term" in err and "not an XMem" in err


def test_erfkit_segment_builds_stms_predictor_as_before(tmp_path, tiny_model):
    """The CLI's STM predictor has the settings it had before XMem's options (results folders stay valid)."""
    from erfkit.cli import build_parser
    from erfkit.cli.segment import build_predictor

    stm = save_checkpoint(tiny_model, tmp_path / "stm")
    args = build_parser().parse_args(["segment", "--checkpoint", str(stm), "--data", "x", "--out", "y"])
    before = VideoPredictor(load_checkpoint(stm), memory="mem", mem_every=5, max_memory_frames=None,
                            gc=GCConfig(iters=0, rate=180.0, every=5, save="corrected", bootstrap=0.4),
                            max_objects=32, size="checkpoint")
    assert build_predictor(args).settings() == before.settings()
    args = build_parser().parse_args(["segment", "--checkpoint", str(stm), "--data", "x", "--out", "y",
                                      "--memory", "first", "--mem-every", "3", "--gc-iters", "2"])
    s = build_predictor(args).settings()
    assert (s["memory"], s["mem_every"], s["gc"]["iters"]) == ("first", 3, 2)


def test_the_paper_experiments_refuse_an_xmem_in_one_line(tmp_path, tiny_synth, xmem_checkpoints, capsys):
    """The paper's tables and figures are STM's (its memory strategies and gradient correction): an XMem checkpoint
    gets one line naming the file and what works on it (tests/cli/test_model_families.py runs those)."""
    xmem = str(xmem_checkpoints["safetensors"])
    assert main(["experiment", "table3", "--baseline", xmem, "--cyclic", xmem, "--data", str(tiny_synth),
                 "--out", str(tmp_path / "x"), "--quick"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and xmem in err[0] and "erfkit experiment" in err[0] and "STM checkpoints only" in err[0], err
    assert "erf, memory, onset and the dashboard" in err[0], err
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_gradient_correction_on_xmem(xmem_model):
    """Every K-th frame's mask is refined by gradient_correction from the frame's own prediction (float64): the
    first corrected frame equals the correction applied by hand; the memory takes the corrected mask."""
    from erfkit.inference.correction import Reference, gradient_correction
    from erfkit.tensors import frame_tensor, onehot

    model = build_model("xmem-tiny", seed=0).double()
    video, first = frames(6), two_objects()
    gc = GCConfig(iters=3, rate=180.0, every=2)
    plain = XMemPredictor(model, mem_every=1)
    corrected = XMemPredictor(model, mem_every=1, gc=gc)
    kept = XMemPredictor(model, mem_every=1, gc=GCConfig(iters=3, rate=180.0, every=2, save="uncorrected"))
    outs = {}
    for name, p in (("plain", plain), ("gc", corrected), ("kept", kept)):
        outs[name] = [p.step(f, first if t == 0 else None) for t, f in enumerate(video)]
        if name == "gc":
            before = p.last_uncorrected  # frame 5: not corrected
    assert before is None and corrected.settings()["gc"]["iters"] == 3
    assert torch.equal(outs["plain"][1], outs["gc"][1])  # frame 1: not a K-th frame
    x0, x2 = (frame_tensor(video[t], "cpu", torch.float64) for t in (0, 2))
    ref = Reference(model.encode_query(x0), onehot(first, [4, 9], "cpu", torch.float64), [0, 1])
    by_hand = gradient_correction(model, x2, outs["plain"][2][None], [ref], gc)[0]
    assert torch.allclose(outs["gc"][2], by_hand, atol=1e-10, rtol=0) and not torch.allclose(by_hand, outs["plain"][2])
    # save="uncorrected" writes the prediction, but memorises the corrected mask: later frames equal GC's
    assert torch.equal(outs["kept"][2], outs["plain"][2])
    assert torch.allclose(outs["kept"][3], outs["gc"][3], atol=1e-12)
    assert not torch.allclose(outs["gc"][3], outs["plain"][3], atol=1e-9)
