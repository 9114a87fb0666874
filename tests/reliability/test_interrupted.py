"""Interrupted work: `segment` and `erf` killed with SIGKILL restart and finish with the same files.

(Training's kill/resume test is in tests/training.)  Also: non-finite values
never reach a written map.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from erfkit.model.checkpoint import save_checkpoint

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, tiny_model):
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("int-ck") / "m")


def _kill_when(cmd: list[str], ready, timeout: float = 120.0) -> None:
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "finished before it could be killed"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_segment_killed_then_rerun(tmp_path, tiny_synth, ckpt):
    base = [sys.executable, "-m", "erfkit", "segment", "--checkpoint", str(ckpt), "--data", str(tiny_synth),
            "--gc-iters", "8", "--gc-every", "1"]
    ref = tmp_path / "ref"
    assert subprocess.call(base + ["--out", str(ref)], env=ENV, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) == 0
    out = tmp_path / "out"
    videos = sorted(p.name for p in ref.iterdir() if p.is_dir())
    _kill_when(base + ["--out", str(out)], lambda: (out / videos[0]).is_dir())
    assert not (out / videos[-1]).exists()  # killed in the middle
    for p in out.rglob("*.png"):  # whatever is there is whole
        assert p.read_bytes()[-8:-4] == b"IEND"
    assert subprocess.call(base + ["--out", str(out)], env=ENV, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) == 0
    assert _files(out) == _files(ref)  # no partial folder or temporary file left, same masks


def test_erf_atlas_killed_then_resumed(tmp_path, tiny_synth, ckpt):
    seq = (tiny_synth / "ImageSets" / "2017" / "val.txt").read_text().split()[0]
    base = [sys.executable, "-m", "erfkit", "erf", "--checkpoint", str(ckpt), "--data", str(tiny_synth), "--sequence",
            seq, "--steps", "30", "--methods", "cycle,classic", "--metrics-every", "0", "--sanity-every", "0"]
    ref = tmp_path / "ref"
    assert subprocess.call(base + ["--out", str(ref)], env=ENV, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) == 0
    out = tmp_path / "atlas"

    def some_done() -> bool:
        try:
            return len(json.loads((out / "index.json").read_text())["done"]) >= 2
        except (OSError, ValueError, KeyError):
            return False

    _kill_when(base + ["--out", str(out)], some_done)
    index = json.loads((out / "index.json").read_text())  # the index is never torn
    assert 2 <= len(index["done"]) < 8
    assert subprocess.call(base + ["--out", str(out)], env=ENV, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) == 0
    for f in sorted((ref / "frames").glob("*.npz")):
        a, b = np.load(f), np.load(out / "frames" / f.name)
        for k in a.files:
            assert np.array_equal(a[k], b[k]), (f.name, k)
    assert not list(out.rglob("*.tmp"))
    assert (out / "metrics.csv").read_text() == (ref / "metrics.csv").read_text()


def test_gradient_correction_and_cycle_erf_never_return_nan(tiny_model, monkeypatch):
    import erfkit.explain.cycle as ce
    import erfkit.inference.correction as gc
    from erfkit.explain.cycle import CycleERFConfig, cycle_erf
    from erfkit.inference.correction import GCConfig, Reference, gradient_correction

    def nan_loss(logits, target, *a, **k):
        out = (logits * float("nan")).mean()
        return out.expand(logits.shape[0]) if k.get("reduction") == "none" else out

    monkeypatch.setattr(gc, "segmentation_loss", nan_loss)
    monkeypatch.setattr(ce, "segmentation_loss", nan_loss)
    frame = torch.rand(1, 3, 32, 48)
    probs = torch.rand(1, 2, 32, 48).softmax(1)
    with torch.no_grad():
        ref = Reference(tiny_model.encode_query(frame), probs.round(), [0])
    out = gradient_correction(tiny_model, frame, probs, [ref], GCConfig(iters=3))
    assert torch.isfinite(out).all() and torch.allclose(out, probs)  # a NaN gradient is no update
    maps = cycle_erf(tiny_model, torch.rand(2, 3, 32, 48), frame, probs.round(), CycleERFConfig(steps=3)).maps
    assert torch.isfinite(maps).all()
