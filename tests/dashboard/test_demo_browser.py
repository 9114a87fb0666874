"""What `make demo` opens, in a real browser: the demo's real video with the default pair (stm-lite0).

The page runs with the dashboard's defaults (``DashboardSettings()``: the demo data,
two real DAVIS 2017 val videos with pseudo ground truth after frame 0, and the
stm-lite0 baseline and cyclic checkpoints), its cache in a temporary folder.
Both checkpoints' J&F on `dog` shows (pseudo ground truth, OSVOS's failed frames
left out and named by the page).  How well the masks follow the dog is
measured in docs/stm-lite0.md and pinned in tests/model/test_shipped_lite0.py.  The screenshots are the README's
(runs/test-screenshots/demo-first-view.png and demo-explorer.png).
"""

from __future__ import annotations

import re

import pytest

from erfkit.dashboard import DashboardSettings

from .test_browser import SHOTS, _wait_until_segmented, chromium_page, click_in_explorer, screenshot_whole
from .test_browser import server  # noqa: F401 (the fixture, started on this module's data)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dashboard_env(tmp_path_factory):
    return DashboardSettings(cache=str(tmp_path_factory.mktemp("demo-cache"))).resolved()


def test_the_demo_opens_real_video_where_the_masks_follow_the_dog(server):  # noqa: F811
    with chromium_page(server) as page:
        _wait_until_segmented(page, 600_000)  # the first view, then J&F and the timeline
        page.screenshot(path=str(SHOTS / "demo-first-view.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0
        captions = page.locator('[data-testid="stImageCaption"]').all_text_contents()
        for who in ("A: stm-lite0-baseline", "B: stm-lite0-cyclic"):
            assert any(c.startswith(who) and "frame 00001" in c for c in captions), captions
        metrics = page.locator('[data-testid="stMetric"]').all_text_contents()
        scores = [float(m) for text in metrics if text.startswith("J&F")
                  for m in re.findall(r"(\d+\.\d)$", text.strip())]
        assert len(scores) == 2 and all(0 < v <= 100 for v in scores), metrics  # scored, not n/a
        assert page.get_by_text("12 of 60 frames left out").count() == 1  # the pseudo-truth rule, said
        page.get_by_role("heading", name="cycle-ERF").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "demo-maps.png"))
        # the memory explorer on the dog (the README's screenshot of it)
        click_in_explorer(page, 0.3, 0.4)  # on the dog
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_text("- read at (y=").count() == 2  # A's read and B's
        screenshot_whole(page, page.get_by_role("tabpanel").first, SHOTS / "demo-explorer.png")
