"""The paper's figures drawn from arrays alone (no model, no dataset)."""

from __future__ import annotations

import numpy as np
import pytest

from erfkit.viz import draw_cycle_erf, draw_error_propagation, draw_qualitative, paper_style, save_figure


def _frames(n, h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def _labels(n, h=24, w=32, shift=0):
    out = []
    for t in range(n):
        lab = np.zeros((h, w), np.uint8)
        lab[4:12, 4 + t + shift:14 + t + shift] = 1
        out.append(lab)
    return out


def test_draw_error_propagation(tmp_path):
    n = 8
    curves = {"baseline": np.r_[1.0, np.linspace(0.9, 0.1, n - 1)], "baseline + GC": np.full(n, 0.8),
              "cyclic": np.full(n, 0.9), "cyclic + GC": np.r_[np.full(n - 1, 0.9), np.nan]}
    shown = [0, 4, 7]
    with paper_style():
        fig = draw_error_propagation(curves, [4], shown, _frames(3), _labels(3), _labels(3, shift=2),
                                     _labels(3, shift=1), title="v-distractor")
        main = fig.axes[0]
        assert [line.get_label() for line in main.lines][:4] == list(curves)  # then the drift frame's line
        assert "drifts" in main.get_title() and len(fig.axes) == 1 + len(shown)
        assert [a.get_title() for a in fig.axes[1:]] == ["frame 0", "frame 4", "frame 7"]
        written = save_figure(fig, tmp_path / "fig1")
    assert [p.name for p in written] == ["fig1.png", "fig1.pdf"] and all(p.stat().st_size > 0 for p in written)


def test_draw_error_propagation_needs_one_entry_per_shown_frame():
    with pytest.raises(ValueError, match="one entry per shown frame"):
        draw_error_propagation({"baseline": np.ones(4)}, [], [0, 3], _frames(1), _labels(2), _labels(2), _labels(2))


def test_draw_qualitative_one_row_per_model():
    videos = [(f"video{i}", [1, 3, 5], _frames(3, seed=i), _labels(3),
               {"baseline": _labels(3, shift=1), "cyclic": _labels(3)}) for i in range(2)]
    fig = draw_qualitative(videos)
    assert len(fig.axes) == 2 * 2 * 3
    assert fig.axes[0].get_title() == "video0 #1" and fig.axes[6].get_title() == "video1 #1"


def test_draw_cycle_erf_shows_the_max_over_objects():
    rng = np.random.default_rng(0)
    maps = {"baseline": rng.random((3, 2, 24, 32)), "cyclic": rng.random((3, 2, 24, 32))}
    masks = [lab > 0 for lab in _labels(3)]
    fig = draw_cycle_erf(maps, _frames(3), masks, [2, 4, 6])
    assert [a.get_title() for a in fig.axes[:3]] == ["frame 2", "frame 4", "frame 6"]
    shown = fig.axes[3].images[-1].get_array()  # baseline, first reference frame: display values of the max
    m = np.log10(maps["baseline"][0].max(0) + 1)
    top = max(np.log10(v.max(1) + 1).max() for v in maps.values())
    np.testing.assert_allclose(np.asarray(shown), m / top)
