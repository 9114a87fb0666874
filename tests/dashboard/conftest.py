"""The dashboard is driven with two tiny checkpoints on the tiny synthetic benchmark."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from erfkit.dashboard import APP, DashboardSettings
from erfkit.model import build_model
from erfkit.model.checkpoint import save_checkpoint

from ..real_data import link_davis_subset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_background_work_left():
    """A page run leaves its worker computing the next frames; a later test (one timed in the browser above all)
    would share the CPU with it."""
    yield
    from erfkit.dashboard import Worker

    Worker.cancel_all()


def use_settings(monkeypatch, settings: DashboardSettings) -> None:
    """Give the page ``settings`` as its script arguments (what ``erfkit dashboard`` passes)."""
    monkeypatch.setattr(sys, "argv", [str(APP), *settings.to_argv()])


@pytest.fixture(scope="session")
def dashboard_env(tmp_path_factory, tiny_synth):
    root = tmp_path_factory.mktemp("dash")
    a = save_checkpoint(build_model("stm-tiny", seed=0), root / "A", {"label": "tiny-A"})
    b = save_checkpoint(build_model("stm-tiny", seed=1), root / "B", {"label": "tiny-B"})
    return DashboardSettings(data=str(tiny_synth), split="val", checkpoints=(str(a), str(b)),
                             cache=str(root / "cache"))


#: The first frames of one real video that the real-frames dashboard test opens (a few, to stay quick).
REAL_SEQUENCE, REAL_FRAMES = "dog", 8


@pytest.fixture(scope="session")
def real_frames_env(tmp_path_factory, real_frames):
    """The dashboard on the real frames: a DAVIS root of the first frames of ``dog`` (480x854, linked, not
    copied; ground truth of frame 00000 only) and the two shipped checkpoints (trained at 240x427)."""
    tmp = tmp_path_factory.mktemp("dash-real")
    root = link_davis_subset(real_frames, tmp / "DAVIS", REAL_SEQUENCE, REAL_FRAMES)
    shipped = REPO / "checkpoints"
    return DashboardSettings(data=str(root), split="val",
                             checkpoints=(str(shipped / "stm-tiny-baseline"), str(shipped / "stm-tiny-cyclic")),
                             cache=str(tmp / "cache"))
