"""Faithful to the authors' training: the ref-masked backward loss, the `authors` preset, the per-dataset
max-skip curriculum, mixed data, gradient accumulation, letterbox sampling and the recorded input size."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from erfkit.cli import main
from erfkit.model import build_model
from erfkit.model.checkpoint import load_checkpoint
from erfkit.model.stm import Memory
from erfkit.training import TrainConfig, apply_overrides, fit, train, train_config
from erfkit.training.state import load_train_state
from erfkit.training.step import TrainStep
from tests.data.test_training_data import make_youtube_train


# ----------------------------------------------- the authors' loss, written out independently (float64)
def _authors_ce(pred, mask, n, ref, bootstrap=0.4):
    """Their cross_entropy_loss: -log(p) * y on channels 0..n, channels absent from ``ref`` zeroed,
    summed over channels, mean of the int(H*W*bootstrap) largest pixels."""
    N, _, H, W = mask.shape
    num = int(H * W * bootstrap)
    ce = -torch.log(pred[:, :n + 1]) * mask[:, :n + 1]
    keep = (ref.reshape(ref.shape[0], ref.shape[1], -1).sum(-1) > 0).to(ce.dtype)
    ce = ce * keep[:, :, None, None]
    pix = ce.sum(1).reshape(N, -1)
    return pix.sort(dim=-1, descending=True).values[:, :num].mean()


def _authors_iou(pred, mask, n, ref):
    """Their mask_iou_loss: per object 1 - sum(min)/sum(max), only objects present in ``ref``, mean."""
    N = mask.shape[0]
    present = ref.reshape(ref.shape[0], ref.shape[1], -1).sum(-1) > 0
    total = 0.0
    for i in range(N):
        terms = [1 - torch.minimum(pred[i, o], mask[i, o]).sum() / torch.maximum(pred[i, o], mask[i, o]).sum()
                 for o in range(1, n + 1) if present[i, o]]
        total = total + torch.stack(terms).mean()
    return total / N


def _authors_criterion(pred, mask, n, ref):
    return _authors_ce(pred, mask, n, ref) + _authors_iou(pred, mask, n, ref)


def _authors_clip_loss(model, frames, masks, n):
    """Their train.py for one clip (N = 1): forward chain, then the backward predictions of frame 1
    from each later frame's memory when frame t's highest object is present; returns
    (sum of forward losses, sum of backward losses, total / (T - 1))."""
    T = frames.shape[0]
    memories, forward, out = [], 0.0, None
    for t in range(1, T):
        memories.append(model.memorize(frames[t - 1:t], masks[t - 1:t] if t == 1 else out))
        logits = model.segment(frames[t:t + 1], Memory.cat(memories))
        out = torch.softmax(logits, 1)
        forward = forward + _authors_criterion(out, masks[t:t + 1], n, ref=masks[0:1, :n + 1])
    memories.append(model.memorize(frames[T - 1:T], out))
    cycle = 0.0
    for t in range(T - 1, 0, -1):
        labels = masks[t].argmax(0) * (masks[t].amax(0) == 1)
        if int(labels.max()) == n:
            first = torch.softmax(model.segment(frames[0:1], memories[t]), 1)
            cycle = cycle + _authors_criterion(first, masks[0:1], n, ref=masks[t:t + 1, :n + 1])
    return forward, cycle, (forward + cycle) / (T - 1)


def _clip_with_an_object_leaving(H=32, W=48):
    g = torch.Generator().manual_seed(3)
    frames = torch.rand(3, 3, H, W, generator=g, dtype=torch.float64)
    masks = torch.zeros(3, 3, H, W, dtype=torch.float64)
    for t in range(3):
        if t < 2:  # object 1 leaves: absent from the last frame
            masks[t, 1, 4 + 2 * t:14 + 2 * t, 6:20] = 1
        masks[t, 2, 18:28, 24 + t:40 + t] = 1
    masks[:, 0] = 1 - masks[:, 1:].sum(1)
    return frames, masks


def test_backward_loss_scores_only_the_objects_of_frame_t_as_the_authors_code():
    model = build_model("stm-tiny", seed=0).double()
    frames, masks = _clip_with_an_object_leaving()
    valid = torch.ones(1, 2, dtype=torch.bool)
    with torch.no_grad():
        fwd, cyc, total = _authors_clip_loss(model, frames, masks, 2)
        summed = TrainStep(model, "cyclic", gamma=1.0, bootstrap=0.4)(frames[None], masks[None], valid)
        mean = TrainStep(model, "cyclic", gamma=1.0, bootstrap=0.4, frame_mean=True)(frames[None], masks[None],
                                                                                       valid)
    assert summed["forward"].item() == pytest.approx(float(fwd), rel=1e-10)
    assert summed["cyclic"].item() == pytest.approx(float(cyc), rel=1e-10)
    assert mean["loss"].item() == pytest.approx(float(total), rel=1e-10)
    # the plain pixel mean (no bootstrap) is masked the same way
    with torch.no_grad():
        plain = TrainStep(model, "cyclic", gamma=1.0)(frames[None], masks[None], valid)["cyclic"].item()
        first = [torch.softmax(model.segment(frames[0:1], m), 1) for m in _memories(model, frames, masks)]
    ref = [_authors_ce(p, masks[0:1], 2, masks[t:t + 1], bootstrap=1.0) + _authors_iou(p, masks[0:1], 2,
                                                                                       masks[t:t + 1])
           for t, p in zip((1, 2), first)]
    assert plain == pytest.approx(float(sum(ref)), rel=1e-10)


def _memories(model, frames, masks):
    m0 = model.memorize(frames[0:1], masks[0:1])
    out1 = torch.softmax(model.segment(frames[1:2], m0), 1)
    m1 = model.memorize(frames[1:2], out1)
    out2 = torch.softmax(model.segment(frames[2:3], Memory.cat([m0, m1])), 1)
    return [m1, model.memorize(frames[2:3], out2)]


# ------------------------------------------------------------------- the authors' preset
def test_authors_preset_is_the_authors_schedule():
    c = train_config("authors")
    assert c.model == "stm-r50" and c.size == (240, 427) and c.sampling == "letterbox"
    assert (c.lr, c.betas, c.weight_decay) == (1e-5, (0.9, 0.999), 5e-4)
    assert (c.epochs, c.batch_size, c.accumulate, c.clips_per_video) == (240, 1, 4, 1)
    assert (c.max_objects, c.frames, c.bootstrap, c.gamma, c.frame_mean) == (5, 3, 0.4, 1.0, True)
    assert (c.max_skip, c.max_skip_step, c.max_skip_youtube, c.max_skip_step_youtube) == (50, 5, 10, 1)
    assert (c.max_skip_every, c.max_skip_cap, c.freeze_bn) == (5, 100, True)
    assert TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert apply_overrides(c, ["accumulate=2", "sampling=crop"]).accumulate == 2
    # the other presets keep their values; `paper` letterboxes, cpu-tiny and test crop
    assert train_config("paper").sampling == "letterbox" and train_config("paper").accumulate == 1
    tiny = train_config("cpu-tiny")
    assert (tiny.sampling, tiny.accumulate, tiny.frame_mean, tiny.max_skip_youtube) == ("crop", 1, False, None)
    assert (tiny.lr, tiny.size, tiny.batch_size, tiny.max_skip, tiny.max_skip_cap) == (3e-4, (192, 320), 4, 3, 15)
    assert train_config("test").sampling == "crop"
    with pytest.raises(Exception, match="sampling"):
        TrainConfig(sampling="resize")
    with pytest.raises(Exception, match="accumulate"):
        TrainConfig(accumulate=0)


def test_the_command_line_takes_the_presets_model(tmp_path, tiny_synth, monkeypatch):
    import erfkit.training

    seen = {}

    def fake_train(config, data, out, **kw):
        seen.update(config=config, data=data, freq=kw["data_freq"])
        return out

    monkeypatch.setattr(erfkit.training, "train", fake_train)
    base = ["train", "--data", str(tiny_synth), "--out", str(tmp_path / "r"), "--malloc-defaults"]
    assert main(base + ["--preset", "authors", "--data", str(tmp_path), "--data-freq", "5,1"]) == 0
    assert seen["config"] == train_config("authors") and seen["freq"] == [5, 1] and len(seen["data"]) == 2
    assert main(base + ["--preset", "authors", "--model", "stm-r18"]) == 0
    assert seen["config"].model == "stm-r18" and seen["config"].accumulate == 4
    assert main(base) == 0 and seen["config"] == train_config("cpu-tiny") and seen["freq"] is None
    assert main(base + ["--model", "stm-r50"]) == 0 and seen["config"] == train_config("paper")


def test_max_skip_curriculum_is_per_dataset():
    c = train_config("authors")
    davis = [c.max_skip_at(e, "davis") for e in (0, 4, 5, 9, 10, 45, 49, 50, 239)]
    assert davis == [50, 50, 55, 55, 60, 95, 95, 100, 100]
    youtube = [c.max_skip_at(e, "youtube") for e in (0, 4, 5, 10, 239)]
    assert youtube == [10, 10, 11, 12, 10 + 47]
    assert c.max_skip_at(10 ** 4, "youtube") == 100
    # without YouTube-VOS settings, YouTube-VOS data follows the DAVIS curriculum (the existing presets)
    t = train_config("cpu-tiny")
    assert [t.max_skip_at(e, "youtube") for e in (0, 7, 8, 40)] == [3, 3, 6, 15]
    assert [t.max_skip_at(e) for e in (0, 7, 8, 16, 40)] == [3, 3, 6, 9, 15]


# ------------------------------------------------------------------ runs
def test_mixed_data_from_the_command_line(tmp_path, tiny_synth):
    """erfkit train --data DAVIS --data YouTube-VOS --data-freq 5,1: counts, per-dataset skips, resume state."""
    yt = make_youtube_train(tmp_path / "yt", videos=2)
    out = tmp_path / "mix"
    args = ["train", "--data", str(tiny_synth), "--data", str(yt), "--data-freq", "5,1", "--preset", "test",
            "--out", str(out), "--set", "clips_per_video=1", "--set", "batch_size=4", "--set", "size=[32,48]",
            "--set", "max_skip_youtube=1",
            "--set", "max_skip_step_youtube=2", "--set", "max_skip_cap=5", "--malloc-defaults"]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "log.csv").open()))
    steps = [r for r in rows if r["loss"]]
    assert len(steps) == 2 * ((5 * 4 + 2) // 4)  # 2 epochs of 22 clips, batch 4
    assert {r["max_skip"] for r in steps if r["epoch"] == "1"} == {"2/1"}
    assert {r["max_skip"] for r in steps if r["epoch"] == "2"} == {"3/3"}
    meta = load_train_state(out / "state.safetensors", build_model("stm-tiny"), None)
    assert meta["max_skips"] == [4, 5]  # for the next epoch: DAVIS 2+2, YouTube-VOS 1+2+2
    assert [(d["layout"], d["freq"]) for d in meta["data"]] == [("davis", 5), ("youtube", 1)]
    ck = load_checkpoint(out)
    assert ck.checkpoint.metadata["input_size"] == "native"  # crops of 64x112 and 40x60 videos
    assert [d["freq"] for d in ck.checkpoint.metadata["training"]["data"]] == [5, 1]
    # resuming with other frequencies is refused
    assert main(["train", "--data", str(tiny_synth), "--data", str(yt), "--data-freq", "1,1", "--out", str(out),
                 "--resume", "--epochs", "3", "--malloc-defaults"]) == 2
    assert main(["train", "--data", str(tiny_synth), "--data", str(yt), "--data-freq", "5", "--out",
                 str(tmp_path / "x"), "--preset", "test"]) == 2


def test_gradient_accumulation_steps_once_per_four_clips_with_their_mean_gradient(tmp_path, tiny_synth, monkeypatch):
    events, batches, grads = [], [], []
    real_forward, real_step = TrainStep.forward, torch.optim.Adam.step

    def forward(self, frames, masks, valid):
        events.append("clip" * frames.shape[0])
        batches.append((frames.clone(), masks.clone(), valid.clone()))
        return real_forward(self, frames, masks, valid)

    def step(self, *a, **kw):
        events.append("step")
        grads.append([p.grad.clone() for g in self.param_groups for p in g["params"]])
        return real_step(self, *a, **kw)

    monkeypatch.setattr(TrainStep, "forward", forward)
    monkeypatch.setattr(torch.optim.Adam, "step", step)
    cfg = train_config("test", epochs=1, clips_per_video=2, batch_size=1, accumulate=4, size=(32, 48))
    _, model = fit(cfg, tiny_synth, tmp_path / "acc", progress=False)
    assert events == ["clip"] * 4 + ["step"] + ["clip"] * 4 + ["step"]  # 8 clips: 2 optimiser steps
    log = [r for r in csv.DictReader((tmp_path / "acc" / "log.csv").open())]
    assert [int(r["step"]) for r in log] == [1, 2]
    # the first step's gradient is the mean of the gradients of its 4 clips, each on its own
    ref = build_model("stm-tiny", seed=cfg.seed)
    params = list(ref.parameters())
    total = [torch.zeros_like(p) for p in params]
    for frames, masks, valid in batches[:4]:
        ref.zero_grad()
        real_forward(TrainStep(ref, cfg.mode, cfg.gamma, cfg.bootstrap), frames, masks, valid)["loss"].backward()
        total = [t + (p.grad if p.grad is not None else 0) for t, p in zip(total, params)]
    for got, want in zip(grads[0], total):
        torch.testing.assert_close(got, want / 4, rtol=1e-5, atol=1e-9)
    assert sum(float(g.abs().sum()) for g in grads[0]) > 0


def test_letterbox_sampling_run_records_its_input_size(tmp_path, tiny_synth):
    cfg = train_config("test", epochs=1, clips_per_video=1, sampling="letterbox", size=(32, 64))
    path = train(cfg, tiny_synth, tmp_path / "lb", progress=False)
    meta = load_checkpoint(path).checkpoint.metadata
    assert meta["input_size"] == "32x64"
    assert load_checkpoint(path).checkpoint.input_size == (32, 64)
