"""The default pair (stm-lite0, trained here): what it is, and what it does on the demo's real `dog`.

Numbers from docs/stm-lite0.md (`python -m benchmarks.memory_probe --data data/tracks`,
`python -m benchmarks.real_video ...`): memory probe J 0.819 (baseline) and 0.816 (cyclic).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from erfkit.dashboard.settings import DEFAULT_CHECKPOINTS, DEFAULT_DATA
from erfkit.data import DavisDataset
from erfkit.evaluation.measures import jaccard
from erfkit.inference import VideoPredictor
from erfkit.model.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def dog():
    return DavisDataset(DEFAULT_DATA, "val")["dog"]


@pytest.mark.parametrize("path,mode", list(zip(DEFAULT_CHECKPOINTS, ("baseline", "cyclic"))))
def test_the_default_pair_reads_its_memory_by_matching(path, mode, dog):
    model = load_checkpoint(path)
    training = model.checkpoint.metadata["training"]
    assert training["mode"] == mode and training["preset_model"] == "stm-lite0" and training["seed"] == 0
    first = training["init"]  # two stages: cpu-lite0 from ImageNet, then cpu-lite0-clips (5-frame clips)
    assert first["epochs_done"] == 10 and first["config"]["backbone_weights"] == "imagenet"
    assert training["epochs_done"] == 8 and training["config"]["frames"] == 5 and first["config"]["frames"] == 3
    frame, mask = dog.read_frame(0), dog.prompt(0)
    predictor = VideoPredictor(model, memory="first")
    with torch.no_grad():
        predictor.step(frame, mask)
        probe = predictor.labels(predictor.step(frame))  # frame 0 again, read from its own memory
        next_frame = predictor.labels(predictor.step(dog.read_frame(1)))
    assert jaccard(probe == 1, mask == 1) > 0.75  # the from-scratch models: 0.00-0.58
    assert jaccard(next_frame == 1, dog.read_annotation(1) == 1) > 0.6  # frame 1, OSVOS pseudo ground truth
    assert 0.5 < (next_frame == 1).sum() / max((mask == 1).sum(), 1) < 2  # not a collapsed or exploded mask
