"""The dashboard is driven with two tiny checkpoints on the tiny synthetic benchmark."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from erfkit.model import build_model
from erfkit.model.checkpoint import save_checkpoint

from ..real_data import link_davis_subset

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


@pytest.fixture(scope="session")
def dashboard_env(tmp_path_factory, tiny_synth):
    root = tmp_path_factory.mktemp("dash")
    a = save_checkpoint(build_model("stm-tiny", seed=0), root / "A", {"label": "tiny-A"})
    b = save_checkpoint(build_model("stm-tiny", seed=1), root / "B", {"label": "tiny-B"})
    return {
        "ERFKIT_DASHBOARD_DATA": str(tiny_synth),
        "ERFKIT_DASHBOARD_SPLIT": "val",
        "ERFKIT_DASHBOARD_CHECKPOINTS": os.pathsep.join([str(a), str(b)]),
        "ERFKIT_DASHBOARD_ATLAS": "",
        "ERFKIT_DASHBOARD_CACHE": str(root / "cache"),
    }


#: The first frames of one real video that the real-frames dashboard test opens (a few, to stay quick).
REAL_SEQUENCE, REAL_FRAMES = "dog", 4


@pytest.fixture(scope="session")
def real_frames_env(tmp_path_factory, real_frames):
    """The dashboard on the real frames: a DAVIS root of the first frames of ``dog`` (480x854, linked, not
    copied; ground truth of frame 00000 only) and the two shipped checkpoints (trained at 240x427)."""
    tmp = tmp_path_factory.mktemp("dash-real")
    root = link_davis_subset(real_frames, tmp / "DAVIS", REAL_SEQUENCE, REAL_FRAMES)
    shipped = APP.parents[1] / "checkpoints"
    return {
        "ERFKIT_DASHBOARD_DATA": str(root),
        "ERFKIT_DASHBOARD_SPLIT": "val",
        "ERFKIT_DASHBOARD_CHECKPOINTS": os.pathsep.join(str(shipped / n) for n in ("stm-tiny-baseline",
                                                                                   "stm-tiny-cyclic")),
        "ERFKIT_DASHBOARD_ATLAS": "",
        "ERFKIT_DASHBOARD_CACHE": str(tmp / "cache"),
    }
