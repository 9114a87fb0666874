"""Shared fixtures: tiny models, a tiny synthetic dataset, the real DAVIS-shaped masks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``../shared`` beside the checkout (CI has it there), or ``$ERFKIT_SHARED``."""
    env = os.environ.get("ERFKIT_SHARED")
    path = Path(env) if env else REPO.parent / "shared"
    if not path.is_dir():
        raise RuntimeError(f"the shared folder is missing: {path} (set ERFKIT_SHARED)")
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    return shared_dir()


@pytest.fixture(scope="session")
def osvos_masks(shared: Path) -> Path:
    """The real DAVIS 2017 val OSVOS masks, laid out as an Annotations/480p folder."""
    return shared / "data" / "davis2017-val-osvos-masks"


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """The ``tiny`` synthetic benchmark (4 train + 3 val videos of 8 frames, 64x112)."""
    from erfkit.data.synth import make_synth

    return make_synth(tmp_path_factory.mktemp("synth") / "tiny", "tiny", progress=False, workers=1)


@pytest.fixture(scope="session")
def tiny_model():
    from erfkit.model import build_model

    return build_model("stm-tiny", seed=0)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def davis_real(tmp_path_factory, osvos_masks) -> Path:
    """A DAVIS root whose ``Annotations/480p`` are the real masks (linked, not copied), split ``val``."""
    root = tmp_path_factory.mktemp("davis") / "DAVIS"
    ann = root / "Annotations" / "480p"
    ann.mkdir(parents=True)
    names = sorted(p.name for p in osvos_masks.iterdir() if p.is_dir())
    for n in names:
        (ann / n).symlink_to(osvos_masks / n, target_is_directory=True)
    sets = root / "ImageSets" / "2017"
    sets.mkdir(parents=True)
    (sets / "val.txt").write_text("".join(n + "\n" for n in names))
    return root


@pytest.fixture(scope="session")
def real_frames(shared: Path) -> Path:
    """Two real DAVIS 2017 val videos (dog, drift-straight): 480p frames, first-frame ground truth only."""
    return shared / "data" / "davis2017-val-real-frames"
