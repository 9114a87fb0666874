"""The dashboard on real video frames (DAVIS 2017 val `dog`, 480x854) in a real browser, driven as a user would.

The browser test's server is reused, started here on a DAVIS root of the first
frames of the real video (``real_frames_env``) with the shipped checkpoints.
Only frame 00000 has an annotation, so J&F shows as n/a with its reason.
Screenshots go to runs/test-screenshots/: the frame view, the timeline, the
explorer after a click.
"""

from __future__ import annotations

import pytest

from .conftest import REAL_FRAMES, REAL_SEQUENCE
from .test_browser import SHOTS, _wait_until_idle, _wait_until_segmented, chromium_page, click_in_explorer, \
    screenshot_whole
from .test_browser import server  # noqa: F401 (the fixture, started on this module's data)

pytestmark = pytest.mark.browser

#: JS: the share of "hot" pixels (red well above blue: the upper colours of inferno) in the image captioned c
HOT_SHARE = """(c) => {
  const fig = [...document.querySelectorAll('[data-testid="stImage"]')]
    .find(e => (e.parentElement.textContent || '').includes(c) || (e.textContent || '').includes(c));
  const img = fig.querySelector('img');
  const cv = document.createElement('canvas');
  cv.width = img.naturalWidth; cv.height = img.naturalHeight;
  const ctx = cv.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, cv.width, cv.height).data;
  let hot = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] - d[i + 2] > 60) hot++;
  return hot / (d.length / 4);
}"""
NO_TRACEBACK = "() => !document.body.innerText.includes('Traceback')"


@pytest.fixture(scope="module")
def dashboard_env(real_frames_env):
    """``server`` (from the browser test) starts the app on the real frames in this module."""
    return real_frames_env


def _captions(page) -> list[str]:
    return page.locator('[data-testid="stImageCaption"]').all_text_contents()


def _no_error(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Traceback").count() == 0
    assert page.locator('[data-testid="stAlert"]').filter(has_text="rror").count() == 0


def test_dashboard_on_real_frames_in_chromium(server):  # noqa: F811
    with chromium_page(server) as page:
        _wait_until_segmented(page)  # the first view, then J&F and the timeline
        page.screenshot(path=str(SHOTS / "real-frames.png"), full_page=True)
        _no_error(page)
        # the frame view: each checkpoint's frame 00001 (the reference differs from the target, frame 0)
        captions = _captions(page)
        for who in ("A: stm-tiny-baseline", "B: stm-tiny-cyclic"):
            assert any(c.startswith(who) and "frame 00001" in c for c in captions), captions
        for name in ("A: cycle-ERF", "B: cycle-ERF", "A - B: cycle-ERF"):
            assert name in captions, captions
        widths = page.eval_on_selector_all('[data-testid="stImage"] img', "els => els.map(e => e.naturalWidth)")
        assert len(widths) >= 9 and all(w > 0 for w in widths), widths
        metrics = page.locator('[data-testid="stMetric"]').all_text_contents()
        assert any(REAL_SEQUENCE in m for m in metrics) and any("n/a" in m for m in metrics), metrics
        assert page.get_by_text("J&F needs an annotation on every frame").count() >= 1  # the reason, on the page
        # the heatmap is not blank: a visible share of its pixels carry the map's upper colours
        assert page.evaluate(HOT_SHARE, "A: cycle-ERF") > 0.005
        # colour-bar tick labels are real text of at least 12 px
        sizes = page.eval_on_selector_all(".erfkit-tick", "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))")
        assert len(sizes) >= 9 and min(sizes) >= 12, sizes
        assert page.locator(".erfkit-legend").count() >= 1
        page.locator(".erfkit-colourbar").first.screenshot(path=str(SHOTS / "colour-bar.png"))

        # a target frame without a mask cannot be chosen: the target list holds the annotated frame only
        page.locator('[data-testid="stSelectbox"]').filter(has_text="target frame t").click()
        options = page.locator('[role="option"]').all_text_contents()
        page.keyboard.press("Escape")
        assert [o.strip() for o in options] == ["00000"], options
        page.wait_for_function(NO_TRACEBACK)

        # the arrow key steps to the next frame
        page.locator("h1").first.click()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stImageCaption\"]')]"
                               ".some(e => e.textContent.includes('frame 00002'))", timeout=240_000)
        _wait_until_idle(page)
        _no_error(page)

        # the timeline: a click on a far frame (not computed ahead) opens it; its first panel appears
        # while maps of it are still being computed
        far = REAL_FRAMES - 2
        chart = page.locator('[data-testid="stVegaLiteChart"]').first
        chart.screenshot(path=str(SHOTS / "timeline.png"))
        box = chart.bounding_box()
        axis = 45  # the y axis and its title, left of the plot
        x = box["x"] + axis + (far + 0.5) / REAL_FRAMES * (box["width"] - axis - 5)
        page.mouse.click(x, box["y"] + box["height"] * 0.45)  # inside the plot (legend above, axis below)
        page.wait_for_function(
            f"""() => [...document.querySelectorAll('[data-testid="stImageCaption"]')]
                   .some(e => e.textContent.includes('frame {far:05d}'))
               && [...document.querySelectorAll('[data-testid="stAlert"]')]
                   .some(e => e.textContent.includes('to compute'))""", timeout=240_000)
        page.screenshot(path=str(SHOTS / "first-panel-before-the-last.png"), full_page=True)
        _wait_until_idle(page, 300_000)
        _no_error(page)
        assert any(f"frame {far:05d}" in c for c in _captions(page))
        page.screenshot(path=str(SHOTS / "frame-view.png"), full_page=True)
        page.get_by_role("heading", name="cycle-ERF").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "maps.png"))  # the method shown large, its colour bars, thumbnails

        # the memory explorer: click the dog, see each memory frame's weights and the frame-mass chart
        click_in_explorer(page, 0.3, 0.55)
        _no_error(page)
        assert sum(c.startswith("memory 00000") for c in _captions(page)) == 2  # A's read and B's
        assert page.get_by_text("- read at (y=").count() == 2
        screenshot_whole(page, page.get_by_role("tabpanel").first, SHOTS / "explorer.png")
