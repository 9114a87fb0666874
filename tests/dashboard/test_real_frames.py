"""The dashboard on real video frames (DAVIS 2017 val `dog`, 480x854) in a real browser.

The browser test's server is reused, started here on a DAVIS root of the real
frames (``real_frames_env``) with the shipped checkpoints.  Only frame 00000
has ground truth, so J&F shows as n/a.  Screenshot: runs/test-screenshots/real-frames.png.
"""

from __future__ import annotations

import pytest

from .conftest import REAL_SEQUENCE
from .test_browser import SHOTS, _wait_until_idle, chromium_page, server  # noqa: F401 (server: the fixture)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dashboard_env(real_frames_env):
    """``server`` (from the browser test) starts the app on the real frames in this module."""
    return real_frames_env


def test_dashboard_on_real_frames_in_chromium(server):  # noqa: F811
    with chromium_page(server) as page:
        _wait_until_idle(page)
        page.screenshot(path=str(SHOTS / "real-frames.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_text("Traceback").count() == 0
        assert page.locator('[data-testid="stAlert"]').filter(has_text="error").count() == 0
        # the frame view: each checkpoint's frame 00001 (the reference differs from the target) and the maps
        captions = page.locator('[data-testid="stImageCaption"]').all_text_contents()
        for who in ("A: stm-tiny-baseline", "B: stm-tiny-cyclic"):
            assert any(c.startswith(who) and "frame 00001" in c for c in captions), captions  # l != t = 0
        for name in ("A: cycle-ERF", "B: cycle-ERF", "A - B: cycle-ERF"):
            assert name in captions, captions
        widths = page.eval_on_selector_all('[data-testid="stImage"] img', "els => els.map(e => e.naturalWidth)")
        assert len(widths) >= 12 and all(w > 0 for w in widths), widths
        metrics = page.locator('[data-testid="stMetric"]').all_text_contents()
        assert any(REAL_SEQUENCE in m for m in metrics) and any("n/a" in m for m in metrics), metrics
