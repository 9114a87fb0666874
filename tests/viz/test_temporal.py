"""The memory-read figure: memory frames under the read's weights, and XMem's long-term prototypes as what they are."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from erfkit.viz.temporal import draw_memory_read  # noqa: E402


def test_long_term_prototypes_are_drawn_on_grey_with_their_own_title():
    rng = np.random.default_rng(0)
    query = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
    frames = [None, rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)]
    maps = rng.random((2, 32, 48))
    fig = draw_memory_read(query, None, (10, 20), frames, ["long-term", "00005"], np.array([0.3, 0.7]), 0.8,
                           np.array([0.7, 0.1]), maps, np.array([0.4, 0.6]))
    titles = [ax.get_title() for ax in fig.axes]
    assert "long-term prototypes\n(at their keys' cells)" in titles and "memory 00005" in titles
    bars = fig.axes[-1] if fig.axes[-1].get_xticklabels() else fig.axes[-2]
    assert [t.get_text() for t in bars.get_xticklabels()] == ["long-term", "memory 00005"]
    plt.close(fig)
