"""erfkit dashboard: what two checkpoints look at, frame by frame.

Start it with ``erfkit dashboard`` (or ``make demo``).  Settings come from
environment variables set by that command (``ERFKIT_DASHBOARD_*``); with none,
it uses ``data/synth`` and the shipped checkpoints.  The computing lives in
erfkit (:class:`erfkit.explain.store.MapStore`, :mod:`erfkit.viz.render`); this
file is the page.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from erfkit.data.davis import DavisDataset
from erfkit.errors import ErfkitError
from erfkit.evaluation.davis import score_sequence
from erfkit.explain.attribution import SALIENCY_METHODS
from erfkit.explain.store import MapStore, ViewSettings, find_atlases
from erfkit.inference.predictor import VideoPredictor
from erfkit.model.checkpoint import load_checkpoint
from erfkit.viz.maps import display_values
from erfkit.viz.render import difference_panel, frame_with_outlines, map_panel, thumbnail

REPO = Path(__file__).resolve().parents[1]
ENV = os.environ.get
DATA = ENV("ERFKIT_DASHBOARD_DATA", str(REPO / "data" / "synth"))
SPLIT = ENV("ERFKIT_DASHBOARD_SPLIT", "val")
CKPTS = (ENV("ERFKIT_DASHBOARD_CHECKPOINTS") or os.pathsep.join(
    str(REPO / "checkpoints" / n) for n in ("stm-tiny-baseline", "stm-tiny-cyclic"))).split(os.pathsep)
ATLAS = tuple(p for p in (ENV("ERFKIT_DASHBOARD_ATLAS") or "").split(os.pathsep) if p)
CACHE = ENV("ERFKIT_DASHBOARD_CACHE", str(REPO / "runs" / "dashboard-cache"))
SIZE = ENV("ERFKIT_DASHBOARD_SIZE", "checkpoint")

st.set_page_config(page_title="erfkit: what does the model look at?", layout="wide")


# ------------------------------------------------------------------ resources
@st.cache_resource(show_spinner=False)
def get_model(path: str):
    return load_checkpoint(path)


@st.cache_resource(show_spinner=False)
def get_dataset(root: str, split: str):
    return DavisDataset(root, split)


@st.cache_resource(show_spinner=False)
def get_atlases(roots: tuple[str, ...]):
    return find_atlases(roots)


@st.cache_resource(show_spinner=False)
def get_store(ckpt: str, root: str, split: str, sequence: str, atlas_roots: tuple[str, ...], cache: str):
    return MapStore(get_model(ckpt), get_dataset(root, split)[sequence], get_atlases(atlas_roots), cache)


@st.cache_data(show_spinner=False, max_entries=512)
def frame_image(root: str, split: str, sequence: str, index: int) -> np.ndarray:
    return get_dataset(root, split)[sequence].read_frame(index)


@st.cache_data(show_spinner=False, max_entries=512)
def ground_truth(root: str, split: str, sequence: str, index: int) -> np.ndarray | None:
    seq = get_dataset(root, split)[sequence]
    return seq.read_annotation(index) if index in seq.annotation_paths else None


@st.cache_data(show_spinner="segmenting the video ...", max_entries=64)
def predictions(ckpt: str, root: str, split: str, sequence: str) -> tuple[list[np.ndarray], float | None, list]:
    """The model's segmentation of every frame (mem strategy), its J&F and per-frame mean J."""
    seq = get_dataset(root, split)[sequence]
    p = VideoPredictor(get_model(ckpt), size=SIZE)
    labels = [p.labels(p.step(seq.read_frame(t), seq.prompt(t))) for t in range(len(seq))]
    if len(seq.annotation_paths) == len(seq) and len(seq) >= 3:
        s = score_sequence([seq.read_annotation(t) for t in range(len(seq))], labels, sequence)
        per_frame = [float("nan")] + list(s.J.mean(0)) + [float("nan")]
        return labels, float((s.J.mean() + s.F.mean()) / 2), per_frame
    return labels, None, []


def pad_like_panel(img: np.ndarray) -> np.ndarray:
    """Pad a frame on the right to a map panel's width (panels carry a colour bar), so all show at one scale."""
    width = map_panel(np.zeros(img.shape[:2]), None).shape[1]
    pad = np.full((img.shape[0], width - img.shape[1], 3), 255, np.uint8)
    return np.concatenate([img, pad], axis=1)


@st.cache_data(show_spinner=False, max_entries=64)
def metric_rows(ckpt: str, root: str, split: str, sequence: str, settings: ViewSettings, stamp: int) -> list[dict]:
    """The store's metric rows (``stamp`` changes when more frames are computed)."""
    return get_store(ckpt, root, split, sequence, ATLAS, CACHE).metrics(settings)


@st.cache_data(show_spinner=False, max_entries=2048)
def overview_images(ckpts: tuple[str, str], root: str, split: str, sequence: str, settings: ViewSettings,
                    t: int, k: int, scale: str) -> list[np.ndarray]:
    """Thumbnails of frame ``t`` and the two cycle-ERFs on it (shared scale)."""
    img = frame_image(root, split, sequence, t)
    a, b = (get_store(c, root, split, sequence, ATLAS, CACHE).get(t, ["cycle"], settings)["cycle"][k]
            .astype(np.float32) for c in ckpts)
    va, vb = display_values([a, b], scale, True)
    return [thumbnail(img), thumbnail(map_panel(va, img)), thumbnail(map_panel(vb, img))]


def fail(message: str) -> None:
    st.error(message)
    st.stop()


# ---------------------------------------------------------------------- sidebar
def sidebar():
    sb = st.sidebar
    sb.header("Data")
    root = sb.text_input("dataset root", DATA, key="data")
    split = sb.text_input("split", SPLIT, key="split")
    try:
        ds = get_dataset(root, split)
    except ErfkitError as e:
        fail(f"Cannot open the dataset: {e}")
    names = ds.names
    default = next((i for i, n in enumerate(names) if "distractor" in n), 0)
    sequence = sb.selectbox("sequence", names, index=default, key="sequence")
    sb.header("Checkpoints")
    ckpt_a = sb.text_input("A", CKPTS[0], key="ckpt_a")
    ckpt_b = sb.text_input("B", CKPTS[1] if len(CKPTS) > 1 else CKPTS[0], key="ckpt_b")
    seq = ds[sequence]
    objects = sorted(seq.object_frames)
    if not objects:
        fail(f"{sequence}: no object is given in its first frame")
    obj = sb.selectbox("object", objects, key="object", format_func=lambda o: f"object {o}")
    sb.header("Explanations")
    target = int(sb.number_input("target frame t", 0, len(seq) - 1, 0, key="target",
                                 help="cycle-ERF rebuilds this frame's mask from each frame l"))
    steps = int(sb.number_input("cycle-ERF steps M", 0, 500, 50, key="steps"))
    rate = float(sb.number_input("cycle-ERF rate alpha", 1.0, 10000.0, 180.0, key="rate"))
    wrt = sb.radio("classic ERF / saliency of frame l as", ["memory", "query"], key="wrt", horizontal=True)
    method = sb.selectbox("saliency method", SALIENCY_METHODS, key="saliency_method")
    reduction = sb.radio("ERF reduction", ["abs", "positive"], key="reduction", horizontal=True)
    sb.header("Display")
    scaling = sb.radio("colour scale", ["shared (fair A/B)", "per map"], key="scaling")
    value_scale = sb.radio("values", ["log", "linear"], key="value_scale", horizontal=True)
    settings = ViewSettings(target=target, steps=steps, rate=rate, reduction=reduction, saliency_method=method,
                            size=SIZE)
    return dict(root=root, split=split, seq=seq, ckpts=(ckpt_a, ckpt_b), obj=obj, objects=objects, wrt=wrt,
                settings=settings, shared=scaling.startswith("shared"), value_scale=value_scale)


# ------------------------------------------------------------------------- page
def main() -> None:
    v = sidebar()
    seq, settings = v["seq"], v["settings"]
    stores, labels, preds = [], [], []
    for c in v["ckpts"]:
        try:
            stores.append(get_store(c, v["root"], v["split"], seq.name, ATLAS, CACHE))
        except ErfkitError as e:
            fail(f"Cannot load checkpoint: {e}")
        info = stores[-1].model.checkpoint
        labels.append(info.label if info is not None else Path(c).name)
        preds.append(predictions(c, v["root"], v["split"], seq.name))
    k = v["objects"].index(v["obj"])
    st.title("What does each checkpoint look at?")
    cols = st.columns(4)
    cols[0].metric("sequence", seq.name)
    cols[1].metric("frames", len(seq))
    for i, c in enumerate(cols[2:]):
        jf = preds[i][1]
        c.metric(f"J&F {'AB'[i]}: {labels[i]}", "n/a" if jf is None else f"{100 * jf:.1f}")

    # frame browser: slider + play
    if "next_frame" in st.session_state:
        st.session_state["frame"] = st.session_state.pop("next_frame")
    left, right = st.columns([6, 1])
    frame = left.slider("reference frame l", 0, len(seq) - 1, key="frame")
    playing = st.session_state.get("playing", False)
    if right.button("Pause" if playing else "Play", key="play"):
        st.session_state["playing"] = playing = not playing

    keys = ["cycle", f"erf_{v['wrt']}", f"saliency_{settings.saliency_method}_{v['wrt']}"]
    titles = ["cycle-ERF", f"classic ERF ({v['wrt']})", f"{settings.saliency_method} ({v['wrt']})"]
    maps = []
    with st.status("maps of this frame", expanded=False) as status:
        for store in stores:
            maps.append(store.get(frame, keys, settings, progress=lambda m: status.update(label=m, state="running")))
        status.update(label="maps of this frame: ready", state="complete")
    img = frame_image(v["root"], v["split"], seq.name, frame)
    gt = ground_truth(v["root"], v["split"], seq.name, frame)
    gt_k = None if gt is None else gt == v["obj"]
    shown = {key: display_values([m[key][k].astype(np.float32) for m in maps], v["value_scale"], v["shared"])
             for key in keys}
    tops = {key: [float(m[key][k].max()) for m in maps] for key in keys}
    for i, (store, m) in enumerate(zip(stores, maps)):
        pred_k = preds[i][0][frame] == v["obj"]
        row = st.columns(4)
        row[0].image(pad_like_panel(frame_with_outlines(img, gt_k, pred_k)), caption=f"{'AB'[i]}: {labels[i]} - frame "
                     f"{seq.frame_name(frame)} (solid: ground truth, dashed: prediction)")
        for j, key in enumerate(keys):
            top = max(tops[key]) if v["shared"] else tops[key][i]
            row[j + 1].image(map_panel(shown[key][i], img, gt_k, top, v["value_scale"]),
                             caption=f"{'AB'[i]}: {titles[j]}")
    row = st.columns(4)
    row[0].markdown("**A - B** (same display values)")
    for j, key in enumerate(keys):
        row[j + 1].image(difference_panel(shown[key][0], shown[key][1], gt_k), caption=f"A - B: {titles[j]}")

    export(v, seq, frame, img, gt_k, preds, maps, keys, titles, labels, k)
    tabs = st.tabs(["Metrics", "Overview", "About"])
    with tabs[0]:
        metrics_tab(v, stores, labels, preds, frame)
    with tabs[1]:
        overview_tab(v, stores, labels, keys, settings)
    with tabs[2]:
        st.markdown(ABOUT)

    if playing:
        time.sleep(0.4)
        st.session_state["next_frame"] = (frame + 1) % len(seq)
        st.rerun()


def export(v, seq, frame, img, gt_k, preds, maps, keys, titles, labels, k) -> None:
    """PNG and PDF of the current view, and its maps as .npz (built only when asked for)."""
    rows = [(labels[i], preds[i][0][frame] == v["obj"], {t: maps[i][key][k].astype(np.float32)
                                                          for t, key in zip(titles, keys)}) for i in range(2)]
    shared, scale = v["shared"], v["value_scale"]
    title = f"{seq.name}, frame {seq.frame_name(frame)}, object {v['obj']}, target {v['settings'].target}"

    def figure_bytes(fmt: str):
        def make() -> bytes:
            from erfkit.viz.figures import comparison_figure
            from erfkit.viz.style import paper_style

            import matplotlib.pyplot as plt

            with paper_style():
                fig = comparison_figure(img, gt_k, rows, shared=shared, scale=scale, title=title)
                buf = io.BytesIO()
                fig.savefig(buf, format=fmt, dpi=200)
                plt.close(fig)
            return buf.getvalue()
        return make

    def npz() -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, frame=img, **{f"{'AB'[i]}_{key}": maps[i][key] for i in range(2) for key in keys},
                            **{f"{'AB'[i]}_pred": preds[i][0][frame] for i in range(2)})
        return buf.getvalue()

    stem = f"{seq.name}-{seq.frame_name(frame)}-obj{v['obj']}"
    c = st.columns(3)
    c[0].download_button("Export view (PNG)", figure_bytes("png"), f"{stem}.png", "image/png", key="export_png",
                         on_click="ignore")
    c[1].download_button("Export view (PDF)", figure_bytes("pdf"), f"{stem}.pdf", "application/pdf",
                         key="export_pdf", on_click="ignore")
    c[2].download_button("Maps (.npz)", npz, f"{stem}.npz", "application/octet-stream", key="export_npz",
                         on_click="ignore")


def metrics_tab(v, stores, labels, preds, frame) -> None:
    rows = []
    keys = ("cycle", "erf_memory", "erf_query", f"saliency_{v['settings'].saliency_method}_memory",
            f"saliency_{v['settings'].saliency_method}_query")
    for label, store, ckpt in zip(labels, stores, v["ckpts"]):
        stamp = sum(len(store.available(key, v["settings"])) for key in keys)
        for r in metric_rows(ckpt, v["root"], v["split"], v["seq"].name, v["settings"], stamp):
            if r["object"] == v["obj"]:
                rows.append({"checkpoint": label, **{k: r[k] for k in ("method", "frame", "energy", "pointing",
                                                                          "area50", "deletion", "insertion", "sanity")}})
    df = pd.DataFrame(rows)
    name = v["seq"].frame_name(frame)
    st.subheader(f"Frame {name}, object {v['obj']}")
    if df.empty:
        st.info("No metrics yet.")
        return
    st.dataframe(df[df["frame"] == name].drop(columns="frame"), hide_index=True, key="frame_metrics")
    st.subheader("This video: mean over the computed frames")
    per_video = df.groupby(["checkpoint", "method"]).mean(numeric_only=True).reset_index()
    per_video.insert(2, "frames", df.groupby(["checkpoint", "method"]).size().values)
    st.dataframe(per_video, hide_index=True, key="video_metrics")
    st.subheader("Over time")
    cyc = df[df["method"] == "cycle"].pivot_table(index="frame", columns="checkpoint", values="energy")
    if not cyc.empty:
        st.caption("cycle-ERF energy inside the object, per frame")
        st.line_chart(cyc)
    j = pd.DataFrame({label: p[2] for label, p in zip(labels, preds) if p[2]}, index=v["seq"].frame_names)
    if not j.empty:
        st.caption("J of each checkpoint's segmentation, per frame")
        st.line_chart(j)


def overview_tab(v, stores, labels, keys, settings) -> None:
    seq = v["seq"]
    k = v["objects"].index(v["obj"])
    if st.button("Compute all frames", key="compute_all"):
        bar = st.progress(0.0, text="computing every frame")
        for i, t in enumerate(range(len(seq))):
            for store in stores:
                store.get(t, keys, settings)
            bar.progress((i + 1) / len(seq), text=f"frame {seq.frame_name(t)}")
    done = sorted(set.intersection(*(s.available("cycle", settings) for s in stores)))
    st.caption(f"cycle-ERF of A and B on every computed frame ({len(done)} of {len(seq)}), shared scale")
    if not done:
        return
    per_row = 6
    for start in range(0, len(done), per_row):
        cols = st.columns(per_row)
        for c, t in zip(cols, done[start:start + per_row]):
            c.image(overview_images(tuple(v["ckpts"]), v["root"], v["split"], seq.name, settings, t, k,
                                    v["value_scale"]), caption=[seq.frame_name(t), labels[0], labels[1]])


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

main()
