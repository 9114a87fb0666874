"""Training: configs, the step (chain not detached, cyclic term), checkpoints, kill/resume, NaN, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from erfkit.errors import ConfigError
from erfkit.model import build_model
from erfkit.model.checkpoint import load_checkpoint
from erfkit.training import TrainConfig, TrainingError, apply_overrides, train, train_config
from erfkit.training.step import TrainStep

WORKER = Path(__file__).with_name("ddp_worker.py")


def _batch(B=2, K=2, T=3, H=32, W=48):
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(B, T, 3, H, W, generator=g)
    masks = torch.zeros(B, T, K + 1, H, W)
    for t in range(T):
        masks[:, t, 1, 4 + t:14 + t, 6:20] = 1
        masks[:, t, 2, 18:28, 24 + t:40 + t] = 1
    masks[:, :, 0] = 1 - masks[:, :, 1:].sum(2)
    return frames, masks, torch.ones(B, K, dtype=torch.bool)


# ------------------------------------------------------------------- config
def test_presets_overrides_and_files(tmp_path):
    cfg = train_config("cpu-tiny")
    assert cfg.model == "stm-tiny" and cfg.lr == 3e-4
    assert train_config("paper").lr == 1e-5 and train_config("paper").model == "stm-r50"
    cfg2 = apply_overrides(cfg, ["lr=0.001", "augment.rotate=5", "size=[64,96]", "mode=cyclic"])
    assert cfg2.lr == 1e-3 and cfg2.augment.rotate == 5 and cfg2.size == (64, 96) and cfg2.mode == "cyclic"
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg2.to_dict()))) == cfg2
    with pytest.raises(ConfigError, match="unknown setting"):
        apply_overrides(cfg, ["learning_rate=1"])
    with pytest.raises(ConfigError):
        TrainConfig(mode="both")


# --------------------------------------------------------------------- step
def test_predicted_masks_enter_memory_without_detaching(tiny_model, monkeypatch):
    seen = []
    real = tiny_model.memorize

    def spy(frame, masks, **kw):
        seen.append(masks.requires_grad)
        return real(frame, masks, **kw)

    monkeypatch.setattr(tiny_model, "memorize", spy)
    frames, masks, valid = _batch()
    TrainStep(tiny_model, "baseline")(frames, masks, valid)
    assert seen == [False, True]  # frame 1: ground truth; frame 2: the prediction, in the graph
    seen.clear()
    TrainStep(tiny_model, "cyclic")(frames, masks, valid)
    assert seen == [False, True, True]  # and the last frame's prediction for the backward prediction


def test_cyclic_adds_the_backward_predictions(tiny_model):
    frames, masks, valid = _batch()
    base = TrainStep(tiny_model, "baseline")(frames, masks, valid)
    cyc = TrainStep(tiny_model, "cyclic")(frames, masks, valid)
    assert base["cyclic"] == 0 and cyc["cyclic"] > 0
    assert torch.allclose(base["forward"], cyc["forward"])
    assert torch.allclose(cyc["loss"], cyc["forward"] + cyc["cyclic"])
    # a later frame without the objects makes no backward prediction
    empty = masks.clone()
    empty[:, 1:, 1:] = 0
    empty[:, 1:, 0] = 1
    assert TrainStep(tiny_model, "cyclic")(frames, empty, valid)["cyclic"] == 0


def test_gradients_reach_every_part(tiny_model):
    model = build_model("stm-tiny", seed=2)
    frames, masks, valid = _batch()
    TrainStep(model, "cyclic")(frames, masks, valid)["loss"].backward()
    for name in ("Encoder_M.conv1_m.weight", "Encoder_Q.res4.0.conv1.weight", "KV_M_r4.Key.weight",
                 "Decoder.pred2.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name


# ------------------------------------------------------------ training runs
def _cfg(**kw):
    return train_config("test", log_every=1, **kw)


def test_keeping_freed_memory_applies_on_glibc_and_changes_no_number(tiny_model):
    """``erfkit train`` keeps freed buffers for reuse (glibc mallopt): faster CPU steps, the same loss."""
    frames, masks, valid = _batch()
    expected = TrainStep(tiny_model, "cyclic")(frames, masks, valid)["loss"].item()
    code = (
        "import platform\n"
        "from erfkit.device import keep_freed_memory\n"
        "from erfkit.training.step import TrainStep\n"
        "from tests.training.test_training import _batch\n"
        "from erfkit.model import build_model\n"
        "applied = keep_freed_memory()\n"
        "assert applied == (platform.system() == 'Linux' and platform.libc_ver()[0] == 'glibc'), applied\n"
        "model = build_model('stm-tiny', seed=0)\n"
        "print(TrainStep(model, 'cyclic')(*_batch())['loss'].item())\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[-1]) == pytest.approx(expected, rel=1e-5)


def test_a_short_run_writes_everything(tmp_path, tiny_synth):
    out = tmp_path / "run"
    path = train(_cfg(mode="cyclic", val_every=1, val_videos=1), tiny_synth, out, progress=False)
    assert json.loads((out / "config.json").read_text())["mode"] == "cyclic"
    model = load_checkpoint(path)
    meta = model.checkpoint.metadata
    assert meta["training"]["mode"] == "cyclic" and meta["training"]["step"] == 8
    assert meta["training"]["data"]["synth_version"] == 1 and meta["metrics"]["val_jf"] is not None
    assert meta["input_size"] == "64x112"  # crops of videos that all have the same size: that size
    lines = (out / "log.csv").read_text().splitlines()
    assert lines[0].startswith("step,epoch,loss,forward,cyclic,lr,max_skip")
    assert len(lines) > 8 and any(ln.split(",")[-1] for ln in lines[1:])  # validation rows
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tb").iterdir())
    with pytest.raises(ConfigError, match="a run exists"):
        train(_cfg(), tiny_synth, out, progress=False)


def test_mask_lr_moves_the_zero_started_mask_convolutions_beyond_what_lr_allows(tmp_path, tiny_synth):
    """Adam moves a weight about ``lr`` a step: the mask convolutions, started at zero, need their own rate."""
    cfg = _cfg(epochs=1, mirror_encoders=True, mask_lr=0.05)
    path = train(cfg, tiny_synth, tmp_path / "run", progress=False)
    model = load_checkpoint(path)
    steps = model.checkpoint.metadata["training"]["step"]
    reach = max(float(w.detach().abs().max()) for w in model.mask_convolutions())
    assert reach > 2 * steps * cfg.lr  # beyond Adam's bound at lr, so these trained at mask_lr
    with pytest.raises(ConfigError, match="mask_lr"):
        _cfg(mask_lr=0.0)


def test_static_epochs_draw_still_clips_first_then_video(tmp_path, tiny_synth, monkeypatch):
    from erfkit.data.sampler import ClipDataset

    seen: list[tuple[int, bool]] = []
    clip = ClipDataset.clip

    def spy(self, video_index, rng):
        item = clip(self, video_index, rng)
        seen.append((self.epoch, len(set(item["indices"])) == 1))
        return item

    monkeypatch.setattr(ClipDataset, "clip", spy)
    train(_cfg(static_epochs=1), tiny_synth, tmp_path / "run", progress=False)
    assert {e for e, _ in seen} == {0, 1}
    assert all(still for e, still in seen if e == 0)
    assert not any(still for e, still in seen if e == 1)  # static_clips = 0 after the first stage
    assert train_config("test", static_epochs=1).static_at(0) == 1.0
    assert train_config("test", static_epochs=1, static_clips=0.3).static_at(1) == 0.3
    with pytest.raises(ConfigError, match="static_epochs"):
        train_config("test", static_epochs=2)  # no video stage left


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path, tiny_synth):
    full = tmp_path / "full"
    train(_cfg(epochs=4), tiny_synth, full, progress=False)
    part = tmp_path / "part"
    cmd = [sys.executable, "-m", "erfkit", "train", "--data", str(tiny_synth), "--preset", "test", "--epochs", "4",
           "--out", str(part), "--set", "checkpoint_every=1", "--set", "log_every=1"]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        log = part / "log.csv"
        if log.is_file() and len(log.read_text().splitlines()) > 6:  # some steps done
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    state = load_file(str(part / "state.safetensors"))  # a complete file, not a torn one
    assert state
    assert subprocess.call(cmd + ["--resume"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0
    a = load_checkpoint(full).state_dict()
    b = load_checkpoint(part).state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    steps = [int(ln.split(",")[0]) for ln in (part / "log.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, 17))  # the log continues: no step lost, none written twice


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, tiny_synth, monkeypatch):
    import erfkit.training.step as step_module

    calls = {"n": 0}
    real = step_module.segmentation_loss

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] > 8 else loss  # 2 losses a step: NaN from step 5

    monkeypatch.setattr(step_module, "segmentation_loss", poisoned)
    out = tmp_path / "nan"
    with pytest.raises(TrainingError, match="loss is not finite at step 5") as e:
        train(_cfg(checkpoint_every=1), tiny_synth, out, progress=False)
    assert "last good checkpoint" in str(e.value)
    from erfkit.training.state import load_train_state

    meta = load_train_state(out / "state.safetensors", build_model("stm-tiny"), None)
    assert meta["step"] == 4
    model = build_model("stm-tiny")
    load_train_state(out / "state.safetensors", model, None)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path, tiny_synth):
    cfg = _cfg(epochs=1, clips_per_video=2, batch_size=4).to_dict()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    one = tmp_path / "one"
    subprocess.run([sys.executable, str(WORKER), str(tiny_synth), str(one), json.dumps(cfg)], env=env, check=True,
                   capture_output=True)
    two = tmp_path / "two"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                        "127.0.0.1", "--master_port", str(29500 + os.getpid() % 1000), str(WORKER), str(tiny_synth),
                        str(two), json.dumps(cfg)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    r0, r1 = load_file(str(two / "rank0.safetensors")), load_file(str(two / "rank1.safetensors"))
    single = load_file(str(one / "rank0.safetensors"))
    init = build_model("stm-tiny", seed=0).state_dict()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k  # replicas hold identical weights
    # Same training as one process on the same global batch, up to float rounding. (The memory key
    # bias has a zero gradient in exact arithmetic - the read's softmax ignores a constant shift of
    # all keys - so it only moves by rounding noise; hence an absolute tolerance, not a relative one.)
    floats = [k for k in r0 if r0[k].is_floating_point()]
    for k in floats:
        assert torch.allclose(r0[k], single[k], atol=5e-5, rtol=1e-4), k
    moved = sum(((single[k] - init[k]) ** 2).sum() for k in floats) ** 0.5
    apart = sum(((r0[k] - single[k]) ** 2).sum() for k in floats) ** 0.5
    assert moved > 1e-2 and apart / moved < 1e-3


def test_init_starts_every_weight_from_a_checkpoint(tmp_path, tiny_synth):
    """A second stage (``init``): the run starts from the first stage's weights, not from a fresh model, and
    refuses a checkpoint of another network."""
    first = train(_cfg(epochs=1), tiny_synth, tmp_path / "first", progress=False)
    start = load_checkpoint(first).state_dict()
    second = train(_cfg(epochs=1, lr=1e-12, init=str(first)), tiny_synth, tmp_path / "second", progress=False)
    fresh = build_model("stm-tiny", seed=0).state_dict()
    got = load_checkpoint(second).state_dict()
    moved = max((got[k].double() - start[k].double()).abs().max().item() for k in start)
    from_fresh = max((got[k].double() - fresh[k].double()).abs().max().item() for k in fresh)
    assert moved < 1e-6 < from_fresh  # one epoch at lr 1e-12: still the first stage's weights
    record = load_checkpoint(second).checkpoint.metadata["training"]
    assert record["init"]["epochs_done"] == 1 and "init" not in record["init"]  # the first stage's record, kept
    other = tmp_path / "other.safetensors"
    from erfkit.model.checkpoint import save_checkpoint
    save_checkpoint(build_model("stm-tiny", seed=0, keydim=8), other, {})
    with pytest.raises(ConfigError, match="init"):
        train(_cfg(epochs=1, init=str(other)), tiny_synth, tmp_path / "third", progress=False)
