"""erfkit dashboard: what two checkpoints look at, frame by frame.

Start it with ``erfkit dashboard`` (or ``make demo``), which passes the
settings as a script argument (:class:`erfkit.dashboard.DashboardSettings`);
with none it opens ``data/synth`` with the shipped checkpoints.  This file is
the page: layout and session state.  What it shows is computed by
:class:`erfkit.dashboard.Comparison` (and its background
:class:`~erfkit.dashboard.Worker`); charts and HTML pieces come from
:mod:`erfkit.dashboard.charts` and :mod:`erfkit.dashboard.markup`.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from dataclasses import dataclass

import streamlit as st

from erfkit.dashboard import (ARROW_KEYS, CELL_PICK, CYCLE, NEXT, PREVIOUS, SALIENCY_METHODS, TIMELINE_PICK,
                              Comparison, DashboardSettings, DatasetOverview, Display, ViewSettings, Worker,
                              colour_bar, explorer_chart, find_atlases, find_checkpoints, find_stores,
                              frame_share_chart, j_lost_chart, line_chart, load_model, mask_legend,
                              model_fingerprint, open_dataset, timeline_chart, warm_up)
from erfkit.errors import ErfkitError

st.set_page_config(page_title="erfkit: what does the model look at?", layout="wide")
try:
    SETTINGS = DashboardSettings.from_argv(sys.argv[1:]).resolved()
except ErfkitError as e:
    st.error(f"Cannot read the dashboard's settings: {e}")
    st.stop()

#: widget values kept through a run that stops early (an error): they are the user's settings.  Streamlit
#: forgets the state of a widget a run does not draw; writing it back at the top keeps it.  So that a widget
#: never gets both a default and a state, defaults go into the state (:func:`choose`), never into the widget.
KEPT = ("data", "split", "sequence", "ckpt_a", "ckpt_a_path", "ckpt_b", "ckpt_b_path", "object", "target",
        "method", "steps", "rate", "wrt", "saliency_method", "reduction", "scaling", "value_scale", "clip",
        "opacity", "tab")
for _k in KEPT:
    if _k in st.session_state:
        st.session_state[_k] = st.session_state[_k]


def choose(key: str, default, options=None) -> None:
    """Give widget ``key`` the value ``default`` when it has none (or one that is not among ``options``)."""
    if key not in st.session_state or (options is not None and st.session_state[key] not in options):
        st.session_state[key] = default


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


# The cached functions below take the settings as their JSON (``DashboardSettings.to_argv``): Streamlit hashes a
# string at once, a dataclass slowly (it was a tenth of a stored view's run).
def settings_key(settings: DashboardSettings) -> str:
    return settings.to_argv()[0]


@st.cache_resource(show_spinner=False)
def get_comparison(key: str, sequence: str) -> Comparison:
    settings = DashboardSettings.from_argv([key])
    return Comparison.open(settings, sequence, dataset=get_dataset(settings.data, settings.split),
                           atlases=get_atlases(settings.atlas), models={c: get_model(c) for c in settings.checkpoints})


@st.cache_resource(show_spinner=False)
def get_worker(key: str, sequence: str) -> Worker:
    return Worker(get_comparison(key, sequence))


@st.cache_resource(show_spinner="comparing the explanation stores ...")
def get_overview(key: str) -> DatasetOverview | None:
    settings = DashboardSettings.from_argv([key])
    stores = find_stores(settings.atlas)
    if not stores:
        return None
    return DatasetOverview.find(stores, *(model_fingerprint(get_model(c)) for c in settings.checkpoints),
                                settings.data, settings.split)


@st.cache_resource(show_spinner=False)
def start_warm_up(key: str, names: tuple[str, ...], size: str):
    """Once per dataset: read the stored videos' segmentations and scores ahead (a row then opens at once)."""
    return warm_up(lambda name: get_comparison(key, name), names, ViewSettings(size=size))


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
    method: str
    view: ViewSettings
    display: Display

    @functools.cached_property
    def settings(self) -> DashboardSettings:
        """The page's settings with the dataset and checkpoints chosen here."""
        return dataclasses.replace(SETTINGS, data=self.root, split=self.split, checkpoints=self.ckpts)

    @functools.cached_property
    def key(self) -> str:
        """:attr:`settings` as the key of the cached resources."""
        return settings_key(self.settings)


# ---------------------------------------------------------------------- sidebar
def checkpoint_picker(sb, side: str, key: str, found: list[str], default: str) -> str:
    other = "another path ..."
    options = found + [other]
    choose(key, default if default in options else options[0], options)
    choice = sb.selectbox(side, options, key=key, format_func=lambda p: p if p == other else found_label(p, found))
    if choice == other:
        choose(f"{key}_path", default)
        return sb.text_input(f"{side}: checkpoint path", key=f"{key}_path")
    return choice


def found_label(path: str, found: list[str]) -> str:
    from pathlib import Path

    name = Path(path).name
    same = [p for p in found if Path(p).name == name]
    return name if len(same) == 1 else f"{Path(path).parent.name}/{name}"


def sidebar() -> Choices:
    sb = st.sidebar
    sb.header("Data")
    choose("data", SETTINGS.data)
    choose("split", SETTINGS.split)
    root = sb.text_input("dataset root", key="data")
    split = sb.text_input("split", key="split")
    try:
        ds = get_dataset(root, split)
    except ErfkitError as e:
        fail(f"Cannot open the dataset: {e}")
    names = ds.names
    sb.header("Checkpoints")
    found = find_checkpoints(SETTINGS.checkpoints)
    ckpt_a = checkpoint_picker(sb, "A", "ckpt_a", found, SETTINGS.checkpoints[0])
    ckpt_b = checkpoint_picker(sb, "B", "ckpt_b", found, SETTINGS.checkpoints[-1])
    picked = dataset_pick(dataclasses.replace(SETTINGS, data=root, split=split, checkpoints=(ckpt_a, ckpt_b)))
    if picked in names:  # a row of the dataset table was clicked: open its video in this same run
        st.session_state["sequence"] = picked
    choose("sequence", next((n for n in names if "distractor" in n), names[0]), names)
    sequence = sb.selectbox("sequence", names, key="sequence")
    seq = ds[sequence]
    objects = sorted(seq.object_frames)
    if not objects:
        fail(f"{sequence}: no object is given in its first frame")
    choose("object", objects[0], objects)
    obj = sb.selectbox("object", objects, key="object", format_func=lambda o: f"object {o}")
    sb.header("Explanations")
    d = ViewSettings()  # the defaults live there
    targets = sorted(seq.annotation_paths)  # only frames with a mask can be targets
    choose("target", d.target if d.target in targets else targets[0], targets)
    target = sb.selectbox("target frame t", targets, key="target", format_func=seq.frame_name,
                          help="cycle-ERF rebuilds this frame's mask from each frame l (only frames with a mask)")
    method = sb.radio("shown large", ["cycle-ERF", "classic ERF", "saliency"], key="method", horizontal=True)
    choose("steps", d.steps)
    choose("rate", float(d.rate))
    steps = int(sb.number_input("cycle-ERF steps M", 0, 500, key="steps"))
    rate = float(sb.number_input("cycle-ERF rate alpha", 1.0, 10000.0, key="rate"))
    wrt = sb.radio("classic ERF / saliency of frame l as", ["memory", "query"], key="wrt", horizontal=True)
    choose("saliency_method", d.saliency_method, SALIENCY_METHODS)
    saliency = sb.selectbox("saliency method", SALIENCY_METHODS, key="saliency_method")
    choose("reduction", d.reduction, ["abs", "positive"])
    reduction = sb.radio("ERF reduction", ["abs", "positive"], key="reduction", horizontal=True)
    sb.header("Display")
    scaling = sb.radio("colour scale", ["shared (fair A/B)", "per map"], key="scaling")
    scale = sb.radio("values", ["log", "linear"], key="value_scale", horizontal=True)
    clip = sb.selectbox("end the scale at", ["99th percentile", "99.9th percentile", "95th percentile",
                                             "the maximum"], key="clip",
                        help="a percentile keeps maps legible where a few pixels dominate (values above it "
                        "saturate; the colour bar says so with ≥); the maximum shows every value unsaturated")
    choose("opacity", Display().opacity)
    opacity = sb.slider("map opacity", 0.1, 1.0, step=0.05, key="opacity")
    view = ViewSettings(target=target, steps=steps, rate=rate, reduction=reduction, saliency_method=saliency,
                        size=SETTINGS.size)
    display = Display(scaling.startswith("shared"), scale,
                      None if clip == "the maximum" else float(clip.split("th")[0]), opacity)
    return Choices(root, split, sequence, (ckpt_a, ckpt_b), obj, wrt, method, view, display)


# ------------------------------------------------------------------------- page
def main() -> None:
    c = sidebar()
    try:
        cmp = get_comparison(c.key, c.sequence)
    except ErfkitError as e:
        fail(f"Cannot load checkpoint: {e}")
    worker = get_worker(c.key, c.sequence)
    Worker.cancel_others(worker)  # another video's neighbouring frames would only slow this one down
    video = cmp.video
    keys = cmp.keys(c.view, c.wrt)
    big = keys[["cycle-ERF", "classic ERF", "saliency"].index(c.method)]
    st.title("What does each checkpoint look at?")
    dataset_page(c)
    # The masks and maps of the frame shown come first; J&F and the timeline need the whole video segmented,
    # which the background worker does after them (the page fills them in when it is done).
    summaries = cmp.summary(c.view) if cmp.fully_segmented(c.view) else None
    cols = st.columns(4)
    cols[0].metric("sequence", video.name)
    cols[1].metric("frames", len(video))
    missing = cmp.jf_missing()
    for i, col in enumerate(cols[2:]):
        label = f"J&F {'AB'[i]}: {cmp.labels[i]}"
        if summaries is None:
            col.metric(label, "...", help="shown once the video is segmented")
            continue
        jf = summaries[i].jf
        col.metric(label, "n/a" if jf is None else f"{100 * jf:.1f}",
                   help=missing or f"DAVIS J&F against the {cmp.truth_kind}")
    if missing:
        st.caption(f"J&F n/a: {missing}.")
    if note := cmp.left_out_note():
        st.caption(f"Pseudo ground truth checked: {note}.")

    frame = frame_controls(cmp, c)
    timeline = st.empty()  # drawn after the frame's panels while the video is still being segmented
    with cmp.foreground():
        if summaries is not None:
            with timeline.container():
                timeline_strip(cmp, c, frame)
        frame_panels(cmp, c, frame, big, keys)
    if summaries is None:
        with timeline.container():
            segmenting(cmp, c.view)
    work_status(worker)  # before new work is asked for: a failure of the last job stays on the page
    worker.prefetch([f for f in (frame + 1, frame + 2, frame - 1) if 0 <= f < len(video)],
                    [big, *(k for k in keys if k != big)], c.view)  # the rest of the segmentation first

    # Only the open tab runs and is drawn: a hidden tab's charts cost the browser as much as shown ones.  The
    # first is the plain text (a chart there would slow every new frame and video); a tab chosen stays open.
    tabs = st.tabs(["About", "Memory explorer", "Metrics", "All frames"], key="tab", on_change="rerun")
    if tabs[0].open:
        with tabs[0]:
            st.markdown(ABOUT)
    if tabs[1].open:
        with tabs[1]:
            explorer_tab(cmp, c, frame)
    if tabs[2].open:
        with tabs[2]:
            metrics_tab(cmp, c, frame, summaries)
    if tabs[3].open:
        with tabs[3]:
            all_frames_tab(cmp, worker, c, keys)

    if st.session_state.get("playing"):
        play_step(cmp, c, frame, keys)


def play_step(cmp: Comparison, c: Choices, frame: int, keys) -> None:
    """Play: on to the next frame whose panels are all stored (nothing to compute), naming the frames skipped."""
    time.sleep(0.4)
    ready = cmp.complete_frames(c.view, keys)
    nxt = next((t for t in ready if t > frame), None)
    if nxt is None:
        st.session_state["playing"] = False
        st.toast("Play stopped: no frame after this one has all its maps computed (compute more in 'All frames').")
    else:
        if nxt > frame + 1:
            st.toast(f"Play skipped frames {cmp.video.frame_name(frame + 1)}"
                     + (f"-{cmp.video.frame_name(nxt - 1)}" if nxt > frame + 2 else "")
                     + ": not all their maps are computed.")
        st.session_state["next_frame"] = nxt
    st.rerun()


@st.fragment(run_every=1.0)
def segmenting(cmp: Comparison, view: ViewSettings) -> None:
    """While the background worker segments the video: how far it is; the whole page reruns when it is done."""
    if cmp.fully_segmented(view):
        st.rerun()
    n = len(cmp.video)
    done = cmp.segmented(view)
    st.progress(done / n, text=f"Segmenting the video for J&F and the timeline: {done} of {n} frames (both "
                f"checkpoints) ...")


def frame_controls(cmp: Comparison, c: Choices) -> int:
    """The reference frame l: slider, previous / next (also the arrow keys), Play / Pause."""
    n = len(cmp.video)
    if st.session_state.get("frame_video") != c.sequence:  # a video opened anew starts beside its target
        st.session_state["frame_video"] = c.sequence
        st.session_state.pop("frame", None)
    if "next_frame" in st.session_state:
        st.session_state["frame"] = st.session_state.pop("next_frame")
    if st.session_state.get("frame", -1) not in range(n):  # start on a frame other than the target
        st.session_state["frame"] = min(n - 1, c.view.target + 1) if n > 1 else 0
    if n == 1:
        st.caption("This video has one frame.")
        return 0
    left, prev, nxt, play = st.columns([10, 1.3, 1.3, 1.3], vertical_alignment="bottom")
    if prev.button(PREVIOUS, key="previous", disabled=st.session_state["frame"] == 0, help="previous frame (←)"):
        st.session_state["frame"] -= 1
    if nxt.button(NEXT, key="next", disabled=st.session_state["frame"] == n - 1, help="next frame (→)"):
        st.session_state["frame"] += 1
    frame = left.slider("reference frame l (arrow keys step)", 0, n - 1, key="frame")
    playing = st.session_state.get("playing", False)
    if play.button("Pause" if playing else "Play", key="play",
                   help="plays the frames whose maps are all computed (the others are skipped)"):
        st.session_state["playing"] = not playing
        st.rerun()  # so that the button shows the new state
    st.iframe(ARROW_KEYS, height=1)
    return frame


def timeline_strip(cmp: Comparison, c: Choices, frame: int) -> None:
    """Per-frame J (or mask area) of A and B, onsets, computed frames; a click jumps to a frame."""
    tl = cmp.timeline(c.view, c.obj)
    # one chart per frame shown: each starts with no selection, so any click (even on a frame clicked
    # before) is a new one
    event = st.vega_lite_chart(timeline_chart(tl, frame, cmp.labels), on_select="rerun", key=f"timeline-{frame}",
                               width="stretch", height=240)  # without a height Streamlit squeezes the plot
    picked = (event.selection.get(TIMELINE_PICK) or [{}])[0].get("frame") if event else None
    if picked is not None and int(picked) != frame:
        st.session_state["next_frame"] = int(picked)
        st.rerun()
    notes = [f"{label}: {tl.onset_signal} first below 0.5 at frame {cmp.video.frame_name(f)}"
             for label, f in tl.onset.items() if f is not None]
    if tl.divergence is not None:
        notes.append(f"A and B diverge at frame {cmp.video.frame_name(tl.divergence)}")
    st.caption(f"Timeline: {tl.signal} per frame (click to go there); dashed lines: error onsets; dotted: where A "
               f"and B diverge; triangles: a mask collapses, explodes or jumps; green ticks: frames whose cycle-ERF "
               f"is computed ({len(tl.computed)} of {len(tl.names)}). "
               + ("; ".join(notes) if notes else "No onset: neither checkpoint falls below 0.5."))


def frame_panels(cmp: Comparison, c: Choices, frame: int, big, keys) -> None:
    """The frame's masks, then the method shown large (A | B | A - B), then the others as thumbnails.

    Each panel is drawn as soon as it is ready (placeholders keep the layout still)."""
    status = st.empty()
    mask_cols = st.columns(2)
    st.subheader(big.title)
    big_cols = st.columns(3)
    st.caption("Other maps of this frame (select one under 'shown large' in the sidebar)")
    others = [k for k in keys if k != big]
    small_cols = st.columns(2 * len(others))
    slots = {"big": [col.empty() for col in big_cols],
             "small": [col.empty() for col in small_cols]}
    if cmp.pending(frame, keys, c.view):  # a stored view is drawn at once, without placeholders
        for slot in slots["big"]:
            slot.caption("computing ...")

    def say(msg: str) -> None:
        units = cmp.pending(frame, keys, c.view)
        eta = cmp.eta(units)
        left = f" - about {eta:.0f} s left" if eta else ""
        status.info(f"{msg} ({len(units)} map(s) to compute{left})")

    masks = cmp.mask_panels(frame, c.obj, c.view, progress=say)
    for col, image, caption in zip(mask_cols, masks.images, masks.captions):
        col.image(image, caption=caption, width="stretch")
    mask_cols[0].html(mask_legend(masks.truth_kind if masks.truth is not None else None))
    for w in masks.warnings:
        mask_cols[1].warning(w, icon="⚠️")
    panels = cmp.method_panels(frame, c.obj, big, c.view, c.display, progress=say)
    for slot, col, image, caption, scale in zip(slots["big"], big_cols, panels.images, panels.captions,
                                                panels.scales):
        with slot.container():
            st.image(image, caption=caption, width="stretch")
            st.html(colour_bar(scale))
    if panels.note:  # A and B in different units (Grad-CAM of two families' layers)
        big_cols[2].caption(panels.note)
    shown = [panels]
    for i, key in enumerate(others):
        p = cmp.method_panels(frame, c.obj, key, c.view, c.display, progress=say)
        shown.append(p)
        for j in range(2):
            slots["small"][2 * i + j].image(p.images[j], caption=p.captions[j] + (" (own scale: another layer)"
                                                                              if p.note else ""), width="stretch")
    status.empty()
    view = cmp.view_of(frame, c.obj, c.view, masks, sorted(shown, key=lambda m: keys.index(m.key)), c.display)
    exports(cmp, c, view)


def exports(cmp: Comparison, c: Choices, view) -> None:
    video = cmp.video
    cols = st.columns(3)
    cols[0].download_button("Export view (PNG)", lambda: view.figure_bytes("png"), f"{view.stem}.png",
                            "image/png", key="export_png", on_click="ignore")
    cols[1].download_button("Export view (PDF)", lambda: view.figure_bytes("pdf"), f"{view.stem}.pdf",
                            "application/pdf", key="export_pdf", on_click="ignore")
    cols[2].download_button("Maps (.npz)", view.npz_bytes, f"{view.stem}.npz", "application/octet-stream",
                            key="export_npz", on_click="ignore")
    more = st.expander("Animations and masks", key="more_exports", on_change="rerun")
    if not more.open:  # drawn only when open: each button costs the browser on every run
        return
    with more:
        st.caption("The selected object's map on every frame computed so far (one scale), and each checkpoint's "
                   "masks in DAVIS format.")
        cols = st.columns(4)
        for i in range(2):
            for j, fmt in enumerate(("gif", "mp4")):
                cols[2 * i + j].download_button(
                    f"{'AB'[i]}: cycle-ERF ({fmt.upper()})",
                    lambda i=i, fmt=fmt: cmp.animation(i, CYCLE, c.obj, c.view, fmt, c.display.scale),
                    f"{video.name}-{'AB'[i]}-cycle.{fmt}", f"image/{fmt}" if fmt == "gif" else "video/mp4",
                    key=f"anim_{i}_{fmt}", on_click="ignore",
                    disabled=not cmp.computed_frames(c.view))  # built on click: offered once there is a frame
        cols = st.columns(4)
        for i in range(2):
            cols[i].download_button(f"{'AB'[i]}: masks (DAVIS zip)", lambda i=i: cmp.masks_zip(i, c.view),
                                    f"{video.name}-{'AB'[i]}-masks.zip", "application/zip", key=f"masks_{i}",
                                    on_click="ignore")


def _status_body(worker: Worker) -> None:
    s = worker.status()
    if not s.running:
        if s.error:
            st.error(f"Background computing stopped: {s.error}")
        return
    eta = "" if s.eta_s is None else f", about {s.eta_s:.0f} s left"
    if s.job != "all":
        st.caption(f"Computing the neighbouring frames ahead in the background ({s.total} maps{eta}).")
        return
    left, right = st.columns([6, 1])
    left.progress(s.done / max(s.total, 1), text=f"computing every frame: {s.done} of {s.total} maps{eta} "
                  f"({s.current})")
    if right.button("Cancel", key="cancel_all"):
        worker.cancel()


@st.fragment(run_every=1.0)
def _live_status(worker: Worker) -> None:
    if not worker.status().running:
        st.rerun()  # done: the whole page shows the new frames (and stops this timer)
    _status_body(worker)


def work_status(worker: Worker) -> None:
    """The background worker's progress (refreshed every second while it runs)."""
    if worker.status().job == "all":
        _live_status(worker)
    else:
        _status_body(worker)


def dataset_page(c: Choices) -> None:
    """When both checkpoints have a store of this dataset: the per-video differences; a row opens its video."""
    try:
        overview = get_overview(c.key)
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
        st.dataframe(table, hide_index=True, key="dataset_videos", on_select="rerun", selection_mode="single-row")
    start_warm_up(c.key, tuple(table["video"]), c.view.size)


def dataset_pick(settings: DashboardSettings) -> str | None:
    """The video of a row of the dataset table clicked since the last run (read before the sequence box is
    drawn, so the click opens the video in the same run), else ``None``."""
    state = st.session_state.get("dataset_videos")
    rows = state["selection"]["rows"] if state else []
    pick = rows[0] if rows else None
    if pick is None:  # nothing selected: the next click on any row is new
        st.session_state.pop("dataset_pick", None)
        return None
    if pick == st.session_state.get("dataset_pick"):  # a click already followed
        return None
    st.session_state["dataset_pick"] = pick
    try:
        overview = get_overview(settings_key(settings))
    except ErfkitError:
        return None
    table = overview.per_video() if overview is not None else None
    return None if table is None or pick >= len(table) else str(table["video"].iloc[pick])


def explorer_tab(cmp: Comparison, c: Choices, frame: int) -> None:
    st.caption("Click a cell of the frame: what each checkpoint's memory read takes from each memory frame (and "
               "XMem's long-term memory) for the selected object at that cell (the read works on cells of 16x16 "
               "network pixels).")
    if frame == 0:
        st.info("Frame 0 is given with its mask: its memory is empty. Choose a later frame.")
        return
    image = cmp.video.read_frame(frame)
    picked = st.session_state.get("explore_point")
    if picked is not None and (picked[0] != frame or picked[1] != c.sequence):
        picked = None
    event = st.vega_lite_chart(explorer_chart(image, cmp.cell(c.view), picked[2] if picked else None),
                               on_select="rerun", key=f"explorer-{c.sequence}-{frame}", width="content")
    cell = (event.selection.get(CELL_PICK) or [None])[0] if event else None
    if cell is not None and (frame, c.sequence, (int(cell["cy"]), int(cell["cx"]))) != picked:
        st.session_state["explore_point"] = (frame, c.sequence, (int(cell["cy"]), int(cell["cx"])))
        st.rerun()  # so that the frame shows the cell picked
    if picked is None:
        st.info("Click the frame to choose a cell.")
        return
    point = picked[2]
    reads = []
    for side in (0, 1):
        with st.spinner(f"reading {cmp.labels[side]}'s memory at frame {cmp.video.frame_name(frame)} ..."):
            reads.append(cmp.memory_read(side, frame, c.obj, point, c.view))
    tops = [float(read.point_maps.max()) for read in reads]  # a point was given: its maps are there
    if c.display.shared:  # one scale for A and B, as the main maps have by default
        tops = [max(tops)] * 2
    for side, column in enumerate(st.columns(2)):  # A | B, as everywhere on the page
        with column:
            memory_read(cmp, frame, side, point, reads[side], tops[side], c.display)
    st.caption("Read weights: " + ("one colour scale for A and B (the sidebar's 'colour scale' switches to one "
                                   "per map)." if c.display.shared else "one colour scale per checkpoint."))


def memory_read(cmp: Comparison, frame: int, side: int, point: tuple[int, int], read, top: float,
                display) -> None:
    """One checkpoint's read at ``point``: its weights on each memory frame (colour bar ending at ``top``),
    each frame's share of the read, and the J lost without it."""
    names = [u.name(cmp.video.frame_name) for u in read.units]
    against = cmp.truth_kind if read.reference != "prediction" else "its own prediction"
    st.markdown(f"**{'AB'[side]}: {cmp.labels[side]}** - read at (y={point[0]}, x={point[1]}); J at this frame "
                f"{read.j:.3f} against {against}")
    shown = min(len(names), 4)
    for start in range(0, shown, 2):
        for col, i in zip(st.columns(2), range(start, min(start + 2, shown))):
            col.image(cmp.memory_panel(read.memory_frames[i], read.point_maps[i], top, display), width="stretch",
                      caption=f"{read.units[i].describe(cmp.video.frame_name)}: {100 * read.point_mass[i]:.1f}% "
                              "of the read" + (" (each prototype at the cell its key was chosen from, on grey)"
                                               if read.units[i].frame is None else ""))
    if len(names) > shown:
        st.caption(f"{len(names) - shown} more memory units are in the charts below.")
    st.html(colour_bar(cmp.memory_scale(top)))
    st.vega_lite_chart(frame_share_chart(names, read.share, read.point_mass), width="stretch", height=180)
    st.vega_lite_chart(j_lost_chart(names, read.effect), width="stretch", height=180)  # room for its axis title
    if read.j == 0:
        st.caption(f"J is already 0 on this frame: leaving a memory unit out cannot lower it, so no bar of "
                   f"'J lost' shows ({'AB'[side]}).")


def metrics_tab(cmp: Comparison, c: Choices, frame: int, summaries) -> None:
    if summaries is None:
        st.info("The metrics show once the video is segmented (the progress bar above the frame).")
        return
    tables = cmp.metrics(c.view, c.obj, frame, summaries)
    st.subheader(f"Frame {cmp.video.frame_name(frame)}, object {c.obj}")
    if tables.empty:
        st.info("No metrics yet: maps computed here skip them; `erfkit erf` stores them with the maps.")
        return
    st.caption("'mask' says what each row is measured against: the annotation of that frame where it has one, "
               "else the checkpoint's own prediction.")
    st.dataframe(tables.frame, hide_index=True, key="frame_metrics")
    st.subheader("This video: mean over the computed frames")
    st.dataframe(tables.video, hide_index=True, key="video_metrics")
    st.subheader("Over time")
    if not tables.energy.empty:
        st.caption("cycle-ERF energy inside the mask, per frame")
        st.vega_lite_chart(line_chart(tables.energy, "energy in mask"), width="stretch", height=240)
    if not tables.j.empty:
        st.caption("J of each checkpoint's segmentation, per frame")
        st.vega_lite_chart(line_chart(tables.j, "J"), width="stretch", height=240)


def all_frames_tab(cmp: Comparison, worker: Worker, c: Choices, keys) -> None:
    video = cmp.video
    if st.button("Compute all frames", key="compute_all", help="in the background: browsing goes on"):
        worker.compute_all(range(len(video)), keys, c.view)
        st.rerun()
    done = cmp.computed_frames(c.view)
    st.caption(f"cycle-ERF of A and B on every computed frame ({len(done)} of {len(video)}), shared scale")
    if not st.toggle("show them", key="show_grid", help="thumbnails of every computed frame (drawn on each run)"):
        return
    per_row = 6
    for start in range(0, len(done), per_row):
        for col, t in zip(st.columns(per_row), done[start:start + per_row]):
            col.image(cmp.overview(t, c.obj, c.view, c.display), caption=[video.frame_name(t), *cmp.labels])


ABOUT = """
**cycle-ERF** (paper Sec. 3.4): the reference frame *l* is memorised with an EMPTY mask; the mask is
updated by *M* gradient steps (rate alpha) that make the memory of frame *l* alone rebuild the
target frame's mask; the map is the ReLU of the result. Bright regions are what the model needs
from frame *l*.

**classic ERF** (Luo et al.): gradient of one output pixel (the object's centroid) w.r.t. the input
pixels of frame *l*, used as the memory frame or as the query frame.

**saliency** (Captum): the object's logit summed inside its ground-truth region, attributed to frame *l*.

**Memory explorer**: the softmax row of the memory read at the clicked cell, for the selected object:
how much weight each memory pixel gets, each memory frame's share, and the J lost when that memory
frame is left out.

**The dotted grid** on maps of real frames is the network's: its first convolution has stride 2, so a
gradient reaches even and odd pixels through different numbers of kernel taps (docs/cycle-erf.md). The
maps keep it; the drawing adds none.

**Shared colour scale**: one scale for A and B, so brighter means stronger. **Per map**: each map on
its own scale (A - B is always drawn on the shared one). A scale ends at the 99th percentile of the
values by default (above it, colours saturate: the colour bar says so with ≥), or at the maximum.
Colour bars are in the maps' raw units. Metrics: energy in mask = share of the map
inside the object; pointing game = the maximum lies on the object; area ratio (50%) = RepLKNet's
area ratio: the smallest square centred on the object holding more than half of log10(1 + map) / max
(over the frame's area).
"""

try:
    main()
except ErfkitError as e:  # every user error is one message, never a traceback
    st.error(str(e))
