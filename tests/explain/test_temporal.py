"""Temporal attribution (share and effect of each memory frame) and error onset."""

from __future__ import annotations

import numpy as np
import pytest

from erfkit.data import DavisDataset
from erfkit.errors import ConfigError
from erfkit.evaluation.onset import error_onset
from erfkit.explain.temporal import temporal_attribution
from erfkit.inference import VideoPredictor


@pytest.fixture(scope="module")
def video(tiny_synth):
    ds = DavisDataset(tiny_synth, "val")
    return ds[ds.names[0]]


def test_shares_sum_to_one_and_effects_follow_the_predictor(tiny_model, video):
    obj = sorted(video.object_frames)[0]
    t = 6  # "mem" holds frame 0 (given) and frame 5 (every 5th, also the previous frame)
    a = temporal_attribution(tiny_model, video, t, obj, size="native")
    assert a.memory_frames == [0, 5]
    assert abs(a.share.sum() - 1) < 1e-5 and (a.share >= 0).all()
    assert a.reference == "ground truth" and a.j_without.shape == (2,)
    # the whole-memory J is the predictor's own J at t
    p = VideoPredictor(tiny_model, size="native")
    labels = [r.labels for r in p.propagate(video, frames=t + 1)]
    gt = video.read_annotation(t)
    inter = ((labels[t] == obj) & (gt == obj)).sum()
    union = ((labels[t] == obj) | (gt == obj)).sum()
    assert a.j == pytest.approx(inter / union if union else 1.0, abs=1e-9)
    assert np.allclose(a.effect, a.j - a.j_without)
    with pytest.raises(ConfigError, match="outside 1"):
        temporal_attribution(tiny_model, video, 0, obj)
    with pytest.raises(ConfigError, match="object 99"):
        temporal_attribution(tiny_model, video, 2, 99)


def test_onset_with_truth_and_divergence(video):
    obj = sorted(video.object_frames)[0]
    gt = [np.where(video.read_annotation(t) == 255, 0, video.read_annotation(t)) for t in range(len(video))]
    lost = [g if t < 4 else np.zeros_like(g) for t, g in enumerate(gt)]  # loses everything from frame 4
    o = error_onset(video, {"perfect": gt, "lost": lost}, object_id=obj)
    assert o.signal == "J" and o.onset == {"perfect": None, "lost": 4} and o.divergence == 4
    assert o.curves["perfect"].tolist() == [1.0] * len(video)
    d = o.to_dict()
    assert d["onset"]["lost"] == 4 and len(d["agreement"]) == len(video)
    with pytest.raises(ConfigError, match="threshold"):
        error_onset(video, {"a": gt}, threshold=1.5)
    with pytest.raises(ConfigError, match="predictions for"):
        error_onset(video, {"a": gt[:3]})


def test_onset_skips_implausible_pseudo_truth(video, monkeypatch):
    """A pseudo ground-truth frame the rule leaves out (a mask over the whole frame) has no J and is no onset;
    without the rule, the perfect prediction 'fails' there."""
    from erfkit.evaluation import PSEUDO_TRUTH_RULE

    obj = sorted(video.object_frames)[0]
    gt = [np.where(video.read_annotation(t) == 255, 0, video.read_annotation(t)) for t in range(len(video))]
    read = video.read_annotation
    monkeypatch.setattr(video, "read_annotation", lambda t: np.full_like(gt[t], obj) if t == 3 else read(t))
    plain = error_onset(video, {"a": gt}, object_id=obj)
    assert plain.onset == {"a": 3} and plain.left_out == []
    ruled = error_onset(video, {"a": gt}, object_id=obj, pseudo_truth=PSEUDO_TRUTH_RULE)
    assert ruled.onset == {"a": None} and ruled.left_out == [3] and np.isnan(ruled.curves["a"][3])
    assert ruled.to_dict()["left_out"] == [3] and ruled.to_dict()["curves"]["a"][3] is None
