"""The dashboard driven headless with Streamlit's AppTest."""

from __future__ import annotations

import dataclasses
import time

import pytest
from streamlit.testing.v1 import AppTest

from .conftest import APP, use_settings


@pytest.fixture()
def app(dashboard_env, monkeypatch):
    use_settings(monkeypatch, dashboard_env)
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return _until_segmented(at)


def _until_segmented(at: AppTest, timeout: float = 180.0) -> AppTest:
    """Rerun the page (as its one-second timer does in a browser) until the video's segmentation, done by the
    background worker after the first view, shows as J&F and the timeline."""
    end = time.monotonic() + timeout
    while any(m.value == "..." for m in at.metric):
        assert time.monotonic() < end, "the video was not segmented in time"
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
    return at


def test_the_first_view_comes_before_the_video_is_segmented(dashboard_env, monkeypatch, tmp_path):
    """On a video never opened, the frame's masks and maps show at once; J&F and the timeline wait for the
    background worker's segmentation of the whole video, with a progress bar, then show."""
    use_settings(monkeypatch, dataclasses.replace(dashboard_env, cache=str(tmp_path / "fresh")))
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    assert not at.exception, at.exception
    caps = _captions(at)
    assert any(c.startswith("A: tiny-A - frame 00001") for c in caps) and "A - B: cycle-ERF" in caps
    # the worker is asked to segment only at the end of this first run: J&F and the timeline wait
    assert [m.value for m in at.metric[2:]] == ["...", "..."] and not at.get("vega_lite_chart")
    assert any("Segmenting the video for J&F and the timeline" in p.proto.text for p in at.get("progress"))
    _until_segmented(at)
    assert len(at.get("vega_lite_chart")) == 1 and not at.get("progress")
    assert all(m.value != "..." for m in at.metric)


def _captions(at) -> list[str]:
    return [c for img in at.get("image") for c in img.captions]


def test_first_view_shows_both_checkpoints(app):
    caps = _captions(app)
    assert any(c.startswith("A: tiny-A") for c in caps) and any(c.startswith("B: tiny-B") for c in caps)
    # the method shown large: A | B | A - B, the others as thumbnails
    for name in ("A: cycle-ERF", "B: cycle-ERF", "A - B: cycle-ERF", "A: classic ERF (memory)",
                 "B: saliency (memory)"):
        assert name in caps
    assert "A - B: classic ERF (memory)" not in caps
    assert len(app.get("image")) == 2 + 3 + 4  # masks, large, thumbnails ("All frames" shows its grid on request)
    # colour bars in raw units, as HTML text (not drawn into the images), and the mask legend
    bars = [h.proto.body for h in app.get("html") if "erfkit-colourbar" in h.proto.body]
    assert len(bars) == 3 and "cycle-ERF" in bars[0] and "A - B" in bars[2]
    assert any("erfkit-legend" in h.proto.body and "prediction" in h.proto.body for h in app.get("html"))
    labels = [b.label for b in app.get("download_button")]
    assert labels[:3] == ["Export view (PNG)", "Export view (PDF)", "Maps (.npz)"]
    assert len(labels) == 3  # the animations and masks are drawn when their expander is opened
    assert len(app.get("vega_lite_chart")) >= 1  # the timeline
    assert [b.label for b in app.button][:3] == ["◀", "▶", "Play"]
    assert not app.error
    app.session_state["more_exports"] = True
    app.run()
    labels = [b.label for b in app.get("download_button")]
    assert {"A: cycle-ERF (GIF)", "B: cycle-ERF (MP4)", "A: masks (DAVIS zip)"} <= set(labels[3:])


def test_browse_sequence_frame_method_and_scaling(app):
    at = app
    names = at.selectbox(key="sequence").options
    at.selectbox(key="sequence").set_value(names[1]).run()
    assert not at.exception and at.metric[0].value == names[1]
    at.slider(key="frame").set_value(3).run()
    assert not at.exception
    assert any("frame 00003" in c for c in _captions(at))
    at.button(key="next").click().run()
    assert at.slider(key="frame").value == 4 and any("frame 00004" in c for c in _captions(at))
    at.selectbox(key="saliency_method").set_value("gradcam").run()
    assert not at.exception and "A: gradcam (memory)" in _captions(at)
    at.radio(key="method").set_value("saliency").run()
    assert not at.exception and "A - B: gradcam (memory)" in _captions(at)
    at.radio(key="scaling").set_value("per map").run()
    assert any("≥" in h.proto.body for h in at.get("html") if "erfkit-colourbar" in h.proto.body)  # 99th pct.
    at.selectbox(key="clip").set_value("the maximum").run()
    assert not at.exception
    assert not any("≥" in h.proto.body for h in at.get("html") if "erfkit-colourbar" in h.proto.body)
    at.radio(key="wrt").set_value("query").run()
    assert not at.exception and "B: classic ERF (query)" in _captions(at)
    at.selectbox(key="sequence").set_value(names[0]).run()  # another video opens beside its target, not on it
    assert not at.exception, "\n".join(at.exception[0].stack_trace)
    assert at.slider(key="frame").value == 1


def test_only_the_open_tab_is_drawn(app):
    at = app
    explorer_hint = "Click the frame to choose a cell."
    assert any("cycle-ERF" in m.value for m in at.markdown)  # "About" is open first: text, no chart
    assert explorer_hint not in [i.value for i in at.info] and len(at.get("vega_lite_chart")) == 1  # the timeline
    at.session_state["tab"] = "Memory explorer"
    at.run()
    assert not at.exception and explorer_hint in [i.value for i in at.info]
    assert not any(b.label == "Compute all frames" for b in at.button)
    at.slider(key="frame").set_value(2).run()  # the tab chosen stays open
    assert explorer_hint in [i.value for i in at.info]
    at.session_state["tab"] = "All frames"
    at.run()
    assert not at.exception and explorer_hint not in [i.value for i in at.info]
    assert any(b.label == "Compute all frames" for b in at.button)


def test_bad_dataset_is_a_clear_message(dashboard_env, monkeypatch, tmp_path):
    use_settings(monkeypatch, dataclasses.replace(dashboard_env, data=str(tmp_path / "nowhere")))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.error and "Cannot open the dataset" in at.error[0].value and "nowhere" in at.error[0].value


def test_targets_are_frames_with_a_mask_and_the_view_starts_elsewhere(app):
    at = app
    assert at.slider(key="frame").value == 1  # the reference differs from the target (frame 0)
    options = at.selectbox(key="target").options
    assert options == [f"{t:05d}" for t in range(8)]  # shown by name; the synthetic videos have a mask on every frame


def test_the_dashboard_opens_on_the_dataset_when_stores_exist(dashboard_env, monkeypatch, tmp_path):
    from erfkit.data import DavisDataset
    from erfkit.explain import AtlasConfig
    from erfkit.explain.dataset import explain_dataset
    from erfkit.model.checkpoint import load_checkpoint

    ds = DavisDataset(dashboard_env.data, "val")
    cfg = AtlasConfig(methods=("cycle",), steps=2, metrics_every=0, sanity_every=0)
    for label, ckpt in zip("AB", dashboard_env.checkpoints):
        explain_dataset(load_checkpoint(ckpt), ds, tmp_path / label, cfg, progress=False)
    use_settings(monkeypatch, dataclasses.replace(dashboard_env, atlas=(str(tmp_path),)))
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    assert not at.exception, at.exception
    assert at.expander and at.expander[0].label.startswith(f"Dataset: B - A over {len(ds.names)} videos")
    videos = at.dataframe(key="dataset_videos").value
    assert list(videos["video"]) == sorted(ds.names) and "cycle/energy (B - A)" in videos
    summary = next(d.value for d in at.dataframe if "metric" in d.value)
    assert "cycle/energy" in list(summary["metric"]) and "B - A" in summary
