"""The dashboard in a real browser: `streamlit run` on a free port, headless Chromium through Playwright.

`make test` installs Debian's chromium; screenshots go to runs/test-screenshots/.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from erfkit.cli.dashboard import streamlit_command

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "runs" / "test-screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(dashboard_env, tmp_path_factory):
    with dashboard_server(dashboard_env, tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url


@contextlib.contextmanager
def dashboard_server(settings, log: Path):
    """``erfkit dashboard`` with ``settings`` on a free local port (its output in ``log``); yields its URL."""
    port = _free_port()
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    with open(log, "w") as out:
        proc = subprocess.Popen(streamlit_command(port, "127.0.0.1", settings), env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_until_idle(page, timeout_ms: int = 180_000) -> None:
    """The app has run: images are shown and the 'running' indicator is gone."""
    page.wait_for_selector('[data-testid="stImage"] img', timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)
    page.wait_for_timeout(500)


def _wait_for_images(page, n: int, timeout_ms: int = 180_000) -> int:
    """Wait until the page shows at least ``n`` images and is idle; returns the count (fails on timeout).

    The page draws each panel as it is ready and reruns itself when background work ends, so an idle
    moment can come before the last panel is drawn."""
    page.wait_for_function(f"() => document.querySelectorAll('[data-testid=\"stImage\"] img').length >= {n}",
                           timeout=timeout_ms)
    _wait_until_idle(page, timeout_ms)
    return page.locator('[data-testid="stImage"] img').count()


def _wait_until_segmented(page, timeout_ms: int = 300_000) -> None:
    """The first view is drawn, then the background worker segments the rest of the video: wait until J&F and
    the timeline show (the page reruns itself then)."""
    _wait_until_idle(page, timeout_ms)
    page.wait_for_function("() => !document.body.innerText.includes('Segmenting the video') && "
                           "[...document.querySelectorAll('[data-testid=\"stMetricValue\"]')]"
                           ".every(e => e.textContent.trim() !== '...')", timeout=timeout_ms)
    _wait_until_idle(page, timeout_ms)


def click_in_explorer(page, x: float, y: float) -> None:
    """Open the Memory explorer tab and click its frame at (``x``, ``y``), fractions of the frame's width and
    height; returns once both checkpoints' reads at that cell are drawn."""
    page.get_by_role("tab", name="Memory explorer").click()
    # the tab's click reruns the app: wait for the rerun to draw the explorer before finding its chart
    page.get_by_text("Click the frame to choose a cell.").wait_for(timeout=240_000)
    _wait_until_idle(page)
    explorer = page.locator('[data-testid="stVegaLiteChart"]').filter(has=page.locator("canvas, svg")).nth(1)
    explorer.scroll_into_view_if_needed()
    box = explorer.bounding_box()
    page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])
    page.wait_for_function("() => document.body.innerText.includes('of the read')", timeout=240_000)
    _wait_until_idle(page)


def screenshot_whole(page, locator, path: Path) -> None:
    """Screenshot ``locator`` whole, though it is taller than the window.

    Streamlit scrolls its own container, not the document, so Chromium cannot capture an element past the
    window's bottom (the panel came out cut below its last chart): the window grows to the element for the
    shot, then shrinks back."""
    size = page.viewport_size
    height = locator.evaluate("e => e.getBoundingClientRect().height")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height) + 300)})
    page.wait_for_timeout(800)  # the charts lay themselves out again
    locator.screenshot(path=str(path))
    page.set_viewport_size(size)


@contextlib.contextmanager
def chromium_page(url: str, open_url: bool = True):
    """A page of headless Chromium, opened on ``url`` unless ``open_url`` is false (the caller opens it)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM} (make test installs it)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        if open_url:
            page.goto(url)
        try:
            yield page
        except BaseException:
            page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)  # what the page showed
            raise
        finally:
            browser.close()


def test_dashboard_renders_in_chromium(server):
    with chromium_page(server) as page:
        assert _wait_for_images(page, 9) >= 9  # two masks, A | B | A - B of one method, four thumbnails
        widths = page.eval_on_selector_all('[data-testid="stImage"] img', "els => els.map(e => e.naturalWidth)")
        assert all(w > 0 for w in widths), widths  # every image decoded
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator('[data-testid="stAlert"]').filter(has_text="error").count() == 0
        page.screenshot(path=str(SHOTS / "dashboard-first-view.png"), full_page=True)

        before = page.get_by_text("frame 00001").count()  # the view starts on frame 1 (the target is 0)
        slider = page.locator('[data-testid="stSlider"]').filter(has_text="reference frame l")  # not the sidebar's
        thumb = slider.locator('[role="slider"], input[type="range"]').first
        thumb.focus()
        thumb.press("ArrowRight")
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stImageCaption\"]')]"
                               ".some(e => e.textContent.includes('frame 00002'))", timeout=180_000)
        _wait_until_idle(page)
        assert before > 0 and page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(SHOTS / "dashboard-frame-2.png"), full_page=True)


def test_an_xmem_opens_as_checkpoint_b(dashboard_env, tmp_path):
    """Checkpoint B of another family (a tiny random XMem) beside an STM: the same first view, no error."""
    import dataclasses

    from erfkit.model import build_model
    from erfkit.model.checkpoint import save_checkpoint

    xmem = save_checkpoint(build_model("xmem-tiny", seed=0), tmp_path / "X", {"label": "xmem-tiny"})
    settings = dataclasses.replace(dashboard_env, checkpoints=(dashboard_env.checkpoints[0], str(xmem)),
                                   cache=str(tmp_path / "cache"))
    with dashboard_server(settings, tmp_path / "streamlit.log") as url, chromium_page(url) as page:
        assert _wait_for_images(page, 9) >= 9
        assert page.locator('[data-testid="stException"]').count() == 0
        captions = page.eval_on_selector_all('[data-testid="stImageCaption"]', "els => els.map(e => e.textContent)")
        assert any("B: xmem-tiny" in c for c in captions), captions
        page.screenshot(path=str(SHOTS / "dashboard-xmem-b.png"), full_page=True)
