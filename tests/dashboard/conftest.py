"""The dashboard is driven with two tiny checkpoints on the tiny synthetic benchmark."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from erfkit.model import build_model
from erfkit.model.checkpoint import save_checkpoint

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
