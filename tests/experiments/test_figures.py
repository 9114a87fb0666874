"""Figures 1, 5 and 6 as experiments: names, the video they share, the files they write."""

from __future__ import annotations

import numpy as np
import pytest

from erfkit.errors import ConfigError
from erfkit.experiments import EXPERIMENTS, FIGURES, run_experiment, write_all
from erfkit.experiments import figures as paper_figures
from erfkit.experiments.figures import PropagationResult, drift_frames
from erfkit.experiments.paper import experiment_names


def test_experiment_names():
    assert experiment_names("fig1, table3,fig1") == ["fig1", "table3"]
    assert experiment_names(["fig6", "fig5"]) == ["fig6", "fig5"]
    assert experiment_names("all") == list(EXPERIMENTS)
    assert {"fig1", "fig5", "fig6", "cycle_erf"} <= set(EXPERIMENTS)
    assert "cycle_erf" not in FIGURES and set(FIGURES) < set(EXPERIMENTS)
    with pytest.raises(ConfigError, match="unknown experiment 'fig9'"):
        experiment_names("fig1,fig9")
    with pytest.raises(ConfigError):
        experiment_names(" , ")


def test_drift_frames_and_the_frames_shown():
    j = np.array([1.0, 0.9, 0.3, 0.2, 0.6, 0.4, np.nan])
    assert drift_frames(j) == [2, 5]
    assert drift_frames(np.array([0.2, 0.1, 0.4])) == []  # never above: no drift
    res = PropagationResult("v", {"baseline": j}, drift_frames(j), {})
    assert res.shown == [0, 2, 5, 6]
    flat = np.array([0.9, 0.8, 0.2, 0.7])
    assert PropagationResult("v", {"baseline": flat}, [], {}).shown == [0, 2, 3]  # the worst frame instead


def test_fig1_and_fig6_share_their_video(tmp_path, tiny_synth, tiny_model, monkeypatch):
    calls = []
    pick = paper_figures.pick_distractor_video

    def counted(*args, **kwargs):
        calls.append(kwargs.get("names", args[3] if len(args) > 3 else None))
        return pick(*args, **kwargs)

    monkeypatch.setattr(paper_figures, "pick_distractor_video", counted)
    rows = run_experiment("fig1,fig6", tiny_synth, tiny_model, tiny_model, tmp_path, quick=True, progress=False)
    assert rows == [] and len(calls) == 1
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["fig1_error_propagation.pdf", "fig1_error_propagation.png", "fig6_cycle_erf.pdf",
                     "fig6_cycle_erf.png"]


def test_write_all_lists_what_it_wrote(tmp_path, tiny_synth, tiny_model):
    written = write_all(tiny_synth, tiny_model, tiny_model, tmp_path, small=True, only=["fig5"], progress=False)
    assert written == [tmp_path / "fig5_qualitative.png", tmp_path / "fig5_qualitative.pdf"]
    with pytest.raises(ConfigError, match="unknown experiment"):
        write_all(tiny_synth, tiny_model, tiny_model, tmp_path, only=["fig2"])
