"""erfkit dashboard: what two checkpoints look at, frame by frame.

Start it with ``erfkit dashboard`` (or ``make demo``), which passes the
settings as a script argument (:class:`erfkit.dashboard.DashboardSettings`);
with none it opens ``data/synth`` with the shipped checkpoints.  This file is
the page: layout and session state.  What it shows is computed by
:class:`erfkit.dashboard.Comparison`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass

import streamlit as st

from erfkit.dashboard import (CYCLE, SALIENCY_METHODS, Comparison, DashboardSettings, DatasetOverview, ViewSettings,
                              find_atlases, find_stores, load_model, model_fingerprint, open_dataset)
from erfkit.errors import ErfkitError

st.set_page_config(page_title="erfkit: what does the model look at?", layout="wide")
try:
    SETTINGS = DashboardSettings.from_argv(sys.argv[1:]).resolved()
except ErfkitError as e:
    st.error(f"Cannot read the dashboard's settings: {e}")
    st.stop()


# ------------------------------------------------------------------ resources
@st.cache_resource(show_spinner=False)
def get_dataset(root: str, split: str):
    return open_dataset(root, split)


@st.cache_resource(show_spinner=False)
def get_model(path: str):
    return load_model(path)


@st.cache_resource(show_spinner=False)
def get_atlases(roots: tuple[str, ...]):
    return find_atlases(roots)


@st.cache_resource(show_spinner=False)
def get_comparison(settings: DashboardSettings, sequence: str) -> Comparison:
    return Comparison.open(settings, sequence, dataset=get_dataset(settings.data, settings.split),
                           atlases=get_atlases(settings.atlas), models={c: get_model(c) for c in settings.checkpoints})


@st.cache_resource(show_spinner="comparing the explanation stores ...")
def get_overview(settings: DashboardSettings) -> DatasetOverview | None:
    stores = find_stores(settings.atlas)
    if not stores:
        return None
    return DatasetOverview.find(stores, *(model_fingerprint(get_model(c)) for c in settings.checkpoints),
                                settings.data, settings.split)


@st.cache_data(show_spinner=False, max_entries=2048)
def overview_images(_cmp: Comparison, key: tuple, t: int, obj: int, view: ViewSettings, scale: str):
    """Thumbnails of frame ``t`` and both cycle-ERFs (``key`` names the comparison for the cache)."""
    return _cmp.overview(t, obj, view, scale)


def fail(message: str) -> None:
    st.error(message)
    st.stop()


@dataclass
class Choices:
    """What the sidebar chose."""

    root: str
    split: str
    sequence: str
    ckpts: tuple[str, str]
    obj: int
    wrt: str
    view: ViewSettings
    shared: bool
    scale: str

    @property
    def settings(self) -> DashboardSettings:
        """The page's settings with the dataset and checkpoints chosen here."""
        return dataclasses.replace(SETTINGS, data=self.root, split=self.split, checkpoints=self.ckpts)


# ---------------------------------------------------------------------- sidebar
def sidebar() -> Choices:
    sb = st.sidebar
    sb.header("Data")
    root = sb.text_input("dataset root", SETTINGS.data, key="data")
    split = sb.text_input("split", SETTINGS.split, key="split")
    try:
        ds = get_dataset(root, split)
    except ErfkitError as e:
        fail(f"Cannot open the dataset: {e}")
    names = ds.names
    if st.session_state.get("next_sequence") in names:  # chosen on the dataset page
        st.session_state["sequence"] = st.session_state.pop("next_sequence")
    default = next((i for i, n in enumerate(names) if "distractor" in n), 0)
    sequence = sb.selectbox("sequence", names, index=default, key="sequence")
    sb.header("Checkpoints")
    ckpts = SETTINGS.checkpoints
    ckpt_a = sb.text_input("A", ckpts[0], key="ckpt_a")
    ckpt_b = sb.text_input("B", ckpts[1] if len(ckpts) > 1 else ckpts[0], key="ckpt_b")
    seq = ds[sequence]
    objects = sorted(seq.object_frames)
    if not objects:
        fail(f"{sequence}: no object is given in its first frame")
    obj = sb.selectbox("object", objects, key="object", format_func=lambda o: f"object {o}")
    sb.header("Explanations")
    d = ViewSettings()  # the defaults live there
    targets = sorted(seq.annotation_paths)  # only frames with a mask can be targets
    target = sb.selectbox("target frame t", targets, index=targets.index(d.target) if d.target in targets else 0,
                          key="target", format_func=seq.frame_name,
                          help="cycle-ERF rebuilds this frame's mask from each frame l (frames with a mask)")
    steps = int(sb.number_input("cycle-ERF steps M", 0, 500, d.steps, key="steps"))
    rate = float(sb.number_input("cycle-ERF rate alpha", 1.0, 10000.0, d.rate, key="rate"))
    wrt = sb.radio("classic ERF / saliency of frame l as", ["memory", "query"], key="wrt", horizontal=True)
    method = sb.selectbox("saliency method", SALIENCY_METHODS, index=SALIENCY_METHODS.index(d.saliency_method),
                          key="saliency_method")
    reduction = sb.radio("ERF reduction", ["abs", "positive"], index=["abs", "positive"].index(d.reduction),
                         key="reduction", horizontal=True)
    sb.header("Display")
    scaling = sb.radio("colour scale", ["shared (fair A/B)", "per map"], key="scaling")
    scale = sb.radio("values", ["log", "linear"], key="value_scale", horizontal=True)
    view = ViewSettings(target=target, steps=steps, rate=rate, reduction=reduction, saliency_method=method,
                        size=SETTINGS.size)
    return Choices(root, split, sequence, (ckpt_a, ckpt_b), obj, wrt, view, scaling.startswith("shared"), scale)


# ------------------------------------------------------------------------- page
def main() -> None:
    c = sidebar()
    try:
        cmp = get_comparison(c.settings, c.sequence)
    except ErfkitError as e:
        fail(f"Cannot load checkpoint: {e}")
    video = cmp.video
    with st.spinner("segmenting the video ..."):
        summaries = cmp.summary(c.view)
    st.title("What does each checkpoint look at?")
    dataset_page(c)
    cols = st.columns(4)
    cols[0].metric("sequence", video.name)
    cols[1].metric("frames", len(video))
    for i, col in enumerate(cols[2:]):
        jf = summaries[i].jf
        col.metric(f"J&F {'AB'[i]}: {summaries[i].label}", "n/a" if jf is None else f"{100 * jf:.1f}",
                   help=None if jf is not None else "J&F needs a ground-truth mask on every frame; this video "
                   "has them on frames " + ", ".join(map(video.frame_name, sorted(video.annotation_paths)[:5])))

    # frame browser: slider + play
    if "next_frame" in st.session_state:
        st.session_state["frame"] = st.session_state.pop("next_frame")
    if "frame" not in st.session_state:  # start on a frame other than the target
        st.session_state["frame"] = min(len(video) - 1, c.view.target + 1)
    left, right = st.columns([6, 1])
    frame = left.slider("reference frame l", 0, len(video) - 1, key="frame")
    playing = st.session_state.get("playing", False)
    if right.button("Pause" if playing else "Play", key="play"):
        st.session_state["playing"] = not playing
        st.rerun()  # so that the button shows the new state

    with st.status("maps of this frame", expanded=False) as status:
        view = cmp.frame_view(frame, c.obj, c.view, c.wrt, shared=c.shared, scale=c.scale,
                              progress=lambda m: status.update(label=m, state="running"))
        status.update(label="maps of this frame: ready", state="complete")
    for row in view.rows:
        for col, (image, caption) in zip(st.columns(4), row):
            col.image(image, caption=caption)
    row = st.columns(4)
    row[0].markdown("**A - B** (same display values)")
    for col, (image, caption) in zip(row[1:], view.difference):
        col.image(image, caption=caption)

    exports = st.columns(3)
    exports[0].download_button("Export view (PNG)", lambda: view.figure_bytes("png"), f"{view.stem}.png",
                               "image/png", key="export_png", on_click="ignore")
    exports[1].download_button("Export view (PDF)", lambda: view.figure_bytes("pdf"), f"{view.stem}.pdf",
                               "application/pdf", key="export_pdf", on_click="ignore")
    exports[2].download_button("Maps (.npz)", view.npz_bytes, f"{view.stem}.npz", "application/octet-stream",
                               key="export_npz", on_click="ignore")
    with st.expander("Animations and masks"):
        st.caption("The selected object's map on every frame computed so far (one scale), and each checkpoint's "
                   "masks in DAVIS format.")
        cols = st.columns(4)
        for i, label in enumerate(cmp.labels):
            for j, fmt in enumerate(("gif", "mp4")):
                cols[2 * i + j].download_button(
                    f"{'AB'[i]}: cycle-ERF ({fmt.upper()})",
                    lambda i=i, fmt=fmt: cmp.animation(i, CYCLE, c.obj, c.view, fmt, c.scale),
                    f"{video.name}-{'AB'[i]}-cycle.{fmt}", f"image/{fmt}" if fmt == "gif" else "video/mp4",
                    key=f"anim_{i}_{fmt}", on_click="ignore")
        cols = st.columns(4)
        for i, label in enumerate(cmp.labels):
            cols[i].download_button(f"{'AB'[i]}: masks (DAVIS zip)", lambda i=i: cmp.masks_zip(i, c.view),
                                    f"{video.name}-{'AB'[i]}-masks.zip", "application/zip", key=f"masks_{i}",
                                    on_click="ignore")
    tabs = st.tabs(["Metrics", "Overview", "About"])
    with tabs[0]:
        metrics_tab(cmp, c, frame, summaries)
    with tabs[1]:
        overview_tab(cmp, c)
    with tabs[2]:
        st.markdown(ABOUT)

    if playing:
        time.sleep(0.4)
        st.session_state["next_frame"] = (frame + 1) % len(video)
        st.rerun()


def dataset_page(c: Choices) -> None:
    """When both checkpoints have a store of this dataset: the per-video differences; a row opens its video."""
    try:
        overview = get_overview(c.settings)
    except ErfkitError as e:
        st.warning(f"The explanation stores cannot be compared: {e}")
        return
    if overview is None:
        return
    with st.expander(f"Dataset: B - A over {len(overview.a.sequences)} videos (stores {overview.a.path.name} and "
                     f"{overview.b.path.name})", expanded=True):
        st.caption("95% intervals: bootstrap resampling videos; p: sign test over videos. Click a row to open "
                   "its video; click a header to sort.")
        st.dataframe(overview.summary(), hide_index=True, key="dataset_summary")
        table = overview.per_video()
        picked = st.dataframe(table, hide_index=True, key="dataset_videos", on_select="rerun",
                              selection_mode="single-row")
        rows = picked.selection.rows if picked is not None else []
        pick = rows[0] if rows else None
        if pick is not None and pick != st.session_state.get("dataset_pick"):  # a new click, not a kept one
            st.session_state["dataset_pick"] = pick
            if table["video"].iloc[pick] != c.sequence:
                st.session_state["next_sequence"] = table["video"].iloc[pick]
                st.rerun()


def metrics_tab(cmp: Comparison, c: Choices, frame: int, summaries) -> None:
    tables = cmp.metrics(c.view, c.obj, frame, summaries)
    st.subheader(f"Frame {cmp.video.frame_name(frame)}, object {c.obj}")
    if tables.empty:
        st.info("No metrics yet.")
        return
    st.dataframe(tables.frame, hide_index=True, key="frame_metrics")
    st.subheader("This video: mean over the computed frames")
    st.dataframe(tables.video, hide_index=True, key="video_metrics")
    st.subheader("Over time")
    if not tables.energy.empty:
        st.caption("cycle-ERF energy inside the object, per frame")
        st.line_chart(tables.energy)
    if not tables.j.empty:
        st.caption("J of each checkpoint's segmentation, per frame")
        st.line_chart(tables.j)


def overview_tab(cmp: Comparison, c: Choices) -> None:
    video = cmp.video
    if st.button("Compute all frames", key="compute_all"):
        bar = st.progress(0.0, text="computing every frame")
        cmp.compute_frames(range(len(video)), c.view, c.wrt,
                           progress=lambda i, n: bar.progress(i / n, text=f"frame {video.frame_name(i - 1)}"))
    done = cmp.computed_frames(c.view)
    st.caption(f"cycle-ERF of A and B on every computed frame ({len(done)} of {len(video)}), shared scale")
    per_row = 6
    key = (c.root, c.split, c.sequence, c.ckpts)
    for start in range(0, len(done), per_row):
        for col, t in zip(st.columns(per_row), done[start:start + per_row]):
            col.image(overview_images(cmp, key, t, c.obj, c.view, c.scale),
                      caption=[video.frame_name(t), *cmp.labels])


ABOUT = """
**cycle-ERF** (paper Sec. 3.4): the reference frame *l* is memorised with an EMPTY mask; the mask is
updated by *M* gradient steps (rate alpha) that make the memory of frame *l* alone rebuild the
target frame's mask; the map is the ReLU of the result. Bright regions are what the model needs
from frame *l*.

**classic ERF** (Luo et al.): gradient of one output pixel (the object's centroid) w.r.t. the input
pixels of frame *l*, used as the memory frame or as the query frame.

**saliency** (Captum): the object's logit summed inside its ground-truth region, attributed to frame *l*.

**Shared colour scale**: one maximum for A and B, so brighter means stronger. **Per map**: each map
by its own maximum. Metrics: energy = share of the map inside the object; pointing = the maximum
lies on the object; area50 = RepLKNet's area ratio: the smallest square centred on the object holding
more than half of log10(1 + map) / max (over the frame's area).
"""

try:
    main()
except ErfkitError as e:  # every user error is one message, never a traceback
    st.error(str(e))
