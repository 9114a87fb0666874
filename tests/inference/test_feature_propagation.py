"""The training-free reference: ImageNet Lite0 features propagate the first mask on real video better than copying it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from erfkit.data.davis import DavisDataset
from erfkit.errors import DataError
from erfkit.evaluation.measures import jaccard
from erfkit.inference import CopyFirst, FeaturePropagation

from ..real_data import link_davis_subset


@pytest.fixture(scope="module")
def propagation() -> FeaturePropagation:
    return FeaturePropagation()


def test_it_returns_the_given_mask_then_distributions(propagation, real_frames, osvos_masks, tmp_path):
    video = DavisDataset(link_davis_subset(real_frames, tmp_path / "dog", "dog", 4), "val")["dog"]
    results = list(propagation.propagate(video))
    first = np.array(Image.open(real_frames / "Annotations" / "480p" / "dog" / "00000.png"))
    assert np.array_equal(results[0].labels, first)
    for r in results[1:]:
        assert r.probs.shape == (2, 480, 854)
        np.testing.assert_allclose(r.probs.sum(0).numpy(), 1.0, atol=1e-5)
    assert propagation.settings()["top_k"] == 20


def test_it_tracks_the_dog_better_than_copying_the_first_mask(propagation, real_frames, osvos_masks, tmp_path):
    """Against the OSVOS masks (pseudo ground truth) on frames 1-20 of the real `dog` video."""
    video = DavisDataset(link_davis_subset(real_frames, tmp_path / "dog", "dog", 21), "val")["dog"]
    truth = [np.array(Image.open(osvos_masks / "dog" / f"{t:05d}.png")) > 0 for t in range(1, 21)]

    def mean_j(predictor) -> float:
        labels = [r.labels > 0 for r in predictor.propagate(video)][1:]
        return float(np.mean([jaccard(p, g) for p, g in zip(labels, truth)]))

    assert mean_j(propagation) > mean_j(CopyFirst()) + 0.1


def test_it_needs_a_first_mask(propagation):
    propagation.reset()
    with pytest.raises(DataError, match="first frame needs a mask"):
        propagation.step(np.zeros((32, 48, 3), np.uint8))
