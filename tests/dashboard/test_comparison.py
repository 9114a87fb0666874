"""What the dashboard shows, computed without a browser (erfkit.dashboard.Comparison).

The spies prove the two promises of the restructuring: a stored frame view
runs no part of the model, and maps computed on demand segment each video
once per checkpoint, not once per map.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import erfkit.explain.views as views
from erfkit.dashboard import Comparison, DashboardSettings, ViewSettings
from erfkit.data import DavisDataset
from erfkit.explain import AtlasConfig, build_atlas
from erfkit.explain.keys import CYCLE, MapKey
from erfkit.model import build_model
from erfkit.model.checkpoint import load_checkpoint, save_checkpoint

VIEW = ViewSettings(steps=2)
STORED = AtlasConfig(steps=2, batch_size=4, metrics_every=0, sanity_every=0)


@pytest.fixture(scope="module")
def setup(tiny_synth, tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    paths = (str(save_checkpoint(build_model("stm-tiny", seed=0), root / "A", {"label": "tiny-A"})),
             str(save_checkpoint(build_model("stm-tiny", seed=1), root / "B", {"label": "tiny-B"})))
    ds = DavisDataset(tiny_synth, "val")
    return root, paths, ds, ds.names[0]


class Spy:
    """Counts the calls of every part of a model that runs the network."""

    PARTS = ("segment", "memorize", "encode_query", "object_logits", "memory_stem")

    def __init__(self, monkeypatch, model):
        self.calls: dict[str, int] = {}
        for name in self.PARTS:
            original = getattr(model, name)

            def spy(*a, _name=name, _f=original, **k):
                self.calls[_name] = self.calls.get(_name, 0) + 1
                return _f(*a, **k)
            monkeypatch.setattr(model, name, spy)


def _open(root, paths, ds, name, atlas=()):
    settings = DashboardSettings(data=str(ds.root), checkpoints=paths, atlas=tuple(atlas), cache=str(root / "cache"))
    models = {p: load_checkpoint(p) for p in paths}
    return Comparison.open(settings, name, dataset=ds, models=models), models


def test_a_stored_frame_view_runs_no_part_of_the_model(setup, monkeypatch):
    root, paths, ds, name = setup
    for p in paths:  # atlases of every frame, as `erfkit erf` writes them
        build_atlas(load_checkpoint(p), ds[name], root / "atlas" / Path(p).parent.name, STORED, progress=False)
    cmp, models = _open(root, paths, ds, name, atlas=[root / "atlas"])
    spies = [Spy(monkeypatch, m) for m in models.values()]
    summary = cmp.summary(VIEW)
    view = cmp.frame_view(3, cmp.objects[0], VIEW, "memory")
    tables = cmp.metrics(VIEW, cmp.objects[0], 3, summary)
    thumbs = cmp.overview(3, cmp.objects[0], VIEW)
    assert [s.calls for s in spies] == [{}, {}], "a stored view ran the model"
    # and it shows what the atlases hold
    assert [s.label for s in summary] == ["tiny-A", "tiny-B"] and all(0 <= s.jf <= 1 for s in summary)
    assert len(summary[0].per_frame_j) == len(ds[name])
    assert [m.captions[0] for m in view.methods] == ["A: cycle-ERF", "A: classic ERF (memory)",
                                                      "A: saliency (memory)"]
    assert view.methods[0].captions[2] == "A - B: cycle-ERF"
    assert view.masks.captions[0].startswith("A: tiny-A - frame 00003")
    stored = views.Atlas(root / "atlas" / "A").load(3)
    k = cmp.objects.index(cmp.objects[0])
    np.testing.assert_array_equal(view.maps[0][CYCLE], stored["cycle"][k].astype(np.float32))
    np.testing.assert_array_equal(view.preds[0], stored["pred"] == cmp.objects[0])
    assert len(thumbs) == 3
    assert len(tables.frame) == 2 * len(VIEW.map_keys())  # each checkpoint's stored rows of this frame and object
    assert set(tables.frame["map"]) == {k.title for k in VIEW.map_keys()}
    # readable names, the mask each row is measured against, no column without a value
    assert {"energy in mask", "pointing game", "area ratio (50%)", "mask"} <= set(tables.frame.columns)
    assert set(tables.frame["mask"]) == {"ground truth"}  # the synthetic videos are annotated on every frame
    assert not tables.frame.isna().all().any() and "sanity" not in tables.frame
    with np.load(__import__("io").BytesIO(view.npz_bytes())) as z:
        assert {"frame", "A_cycle", "B_erf_memory", "A_pred"} <= set(z.files)
    assert view.figure_bytes("png")[:8] == b"\x89PNG\r\n\x1a\n"


def test_maps_on_demand_segment_each_video_once(setup, monkeypatch):
    root, paths, ds, name = setup
    calls = []

    class Counting(views.VideoPredictor):
        def propagate(self, video, **kw):
            calls.append(self.model.checkpoint.label)
            return super().propagate(video, **kw)
    monkeypatch.setattr(views, "VideoPredictor", Counting)
    cmp, _ = _open(root, paths, ds, name)
    cmp.summary(VIEW)
    for frame in (1, 2):
        for wrt in ("memory", "query"):
            cmp.frame_view(frame, cmp.objects[0], VIEW, wrt)
    assert sorted(calls) == ["tiny-A", "tiny-B"], calls  # once per checkpoint, not per map or frame
    # a new session finds the segmentation in the cache on disk
    calls.clear()
    cmp, _ = _open(root, paths, ds, name)
    cmp.summary(VIEW)
    cmp.frame_view(4, cmp.objects[0], VIEW, "memory")
    assert calls == []
    assert set(cmp.computed_frames(VIEW)) >= {1, 2, 4}
    assert MapKey.erf("query") in cmp.stores[0].get(1, [MapKey.erf("query")], VIEW)


def test_a_frame_shows_before_the_video_is_segmented(setup, tmp_path, monkeypatch):
    """Streaming: the masks and cycle-ERF of frame 1 segment frames 0-1 only; the worker segments the rest in
    steps, going on from there (one pass per checkpoint), and the result equals a segmentation in one go."""
    from erfkit.dashboard import Worker
    from erfkit.explain.atlas import predict_labels

    root, paths, ds, name = setup
    frames = []

    class Counting(views.VideoPredictor):
        def propagate(self, video, **kw):
            for r in super().propagate(video, **kw):
                frames.append(self.model.checkpoint.label)
                yield r
    monkeypatch.setattr(views, "VideoPredictor", Counting)
    settings = DashboardSettings(data=str(ds.root), checkpoints=paths, cache=str(tmp_path / "cache"))
    cmp = Comparison.open(settings, name, dataset=ds)
    n = len(cmp.video)
    panels = cmp.mask_panels(1, cmp.objects[0], VIEW)
    cmp.method_panels(1, cmp.objects[0], CYCLE, VIEW)
    assert sorted(frames) == ["tiny-A"] * 2 + ["tiny-B"] * 2, frames  # frames 0 and 1 of each, nothing more
    assert cmp.segmented(VIEW) == 2 and not cmp.fully_segmented(VIEW)
    worker = Worker(cmp)
    worker.prefetch([2], [CYCLE], VIEW)
    assert worker.wait(300) and not worker.status().error
    assert cmp.fully_segmented(VIEW) and cmp.segmented(VIEW) == n
    assert sorted(frames) == ["tiny-A"] * n + ["tiny-B"] * n  # each frame segmented once
    assert 2 in cmp.computed_frames(VIEW)
    for side in range(2):
        whole = predict_labels(cmp.stores[side].model, cmp.video, size=cmp.stores[side].size(VIEW))
        assert all(np.array_equal(a, b) for a, b in zip(cmp.segmentation(side, VIEW), whole, strict=True))
    assert np.array_equal(panels.preds[0], cmp.segmentation(0, VIEW)[1] == cmp.objects[0])


def test_bad_object_and_checkpoint_count_are_clear(setup):
    root, paths, ds, name = setup
    cmp, _ = _open(root, paths, ds, name)
    with pytest.raises(Exception, match="object 99 is not in"):
        cmp.frame_view(0, 99, VIEW, "memory")
    with pytest.raises(Exception, match="two checkpoints"):
        Comparison.open(DashboardSettings(data=str(ds.root), checkpoints=paths[:1]), name, dataset=ds)


def test_settings_travel_to_the_page_as_one_argument(tmp_path, monkeypatch):
    import subprocess

    from erfkit.cli import main
    from erfkit.dashboard import APP

    s = DashboardSettings(data="d", checkpoints=("a", "b"), atlas=("x",), size="240x427")
    assert DashboardSettings.from_argv(s.to_argv()) == s
    assert DashboardSettings.from_argv([]) == DashboardSettings()
    with pytest.raises(Exception, match="one JSON argument"):
        DashboardSettings.from_argv(["--data", "d"])
    seen = {}
    monkeypatch.setattr(subprocess, "call", lambda cmd, env=None: seen.setdefault("cmd", cmd) and 0)
    ckpt = save_checkpoint(build_model("stm-tiny", seed=0), tmp_path / "c")
    data = tmp_path / "synth"
    assert main(["synth", str(data), "--preset", "tiny"]) == 0
    assert main(["dashboard", "--data", str(data), "--checkpoint", str(ckpt), "--checkpoint", str(ckpt),
                 "--size", "64x112"]) == 0
    cmd = seen["cmd"]
    assert cmd[cmd.index("run") + 1] == str(APP) and APP.is_file()  # the page, found in the package
    sent = DashboardSettings.from_argv(cmd[cmd.index("--") + 1:])
    assert sent.data == str(data.resolve()) and sent.checkpoints == (str(Path(ckpt).resolve()),) * 2
    assert sent.size == "64x112" and Path(sent.cache).is_absolute()


def test_dataset_overview_of_two_stores(setup, tmp_path):
    from erfkit.dashboard import DatasetOverview, find_stores, model_fingerprint
    from erfkit.explain.dataset import explain_dataset

    root, paths, ds, name = setup
    names = ds.names[:2]
    models = [load_checkpoint(p) for p in paths]
    for label, m in zip("AB", models):
        explain_dataset(m, ds, tmp_path / "stores" / label, STORED, sequences=names, progress=False)
    stores = find_stores([tmp_path / "stores"])
    assert len(stores) == 2
    ov = DatasetOverview.find(stores, *(model_fingerprint(m) for m in models), ds.root, "val", reps=200)
    assert ov is not None and ov.a.path.name == "A" and ov.b.path.name == "B"
    table = ov.per_video()
    assert list(table["video"]) == sorted(names) and "cycle/energy (B - A)" in table and "J (B - A)" in table
    summary = ov.summary()
    assert {"metric", "n", "A", "B", "B - A", "ci_low", "ci_high", "p_value"} <= set(summary.columns)
    # the stores of B against A's checkpoint twice: nothing matches
    assert DatasetOverview.find(stores, model_fingerprint(models[0]), "0" * 64, ds.root, "val") is None


def test_warm_up_reads_stored_videos_ahead_and_segments_nothing(setup, tmp_path, monkeypatch):
    from erfkit.dashboard import warm_up
    from erfkit.explain.dataset import explain_dataset

    root, paths, ds, name = setup
    stored, unstored = ds.names[:2], ds.names[2]
    for label, p in zip("AB", paths):
        explain_dataset(load_checkpoint(p), ds, tmp_path / "stores" / label, STORED, sequences=stored, progress=False)
    settings = DashboardSettings(data=str(ds.root), checkpoints=paths, atlas=(str(tmp_path / "stores"),),
                                 cache=str(tmp_path / "cache"))
    models = {p: load_checkpoint(p) for p in paths}
    opened = {n: Comparison.open(settings, n, dataset=ds, models=models) for n in ds.names}
    spies = [Spy(monkeypatch, m) for m in models.values()]
    view = ViewSettings(size=settings.size)
    warm_up(opened.__getitem__, [*stored, unstored, "no-such-video"], view, pause_s=0).join(60)
    assert all(s.calls == {} for s in spies)  # read, never segmented or explained
    assert not list((tmp_path / "cache").rglob("*.npz"))
    for n in stored:  # what the page shows first is in memory: asking again reads nothing
        summaries = opened[n]._summaries
        assert len(summaries) == 1 and opened[n].summary(view) is next(iter(summaries.values()))
    assert opened[unstored]._summaries == {} and opened[unstored].stored_summary(view) is None


def test_animation_and_masks_zip(setup):
    import io
    import zipfile

    import av
    from PIL import Image

    root, paths, ds, name = setup
    cmp, _ = _open(root, paths, ds, name)
    for frame in (1, 3):
        cmp.frame_view(frame, cmp.objects[0], VIEW, "memory")
    done = sorted(cmp.stores[0].available(CYCLE, VIEW))
    with Image.open(io.BytesIO(cmp.animation(0, CYCLE, cmp.objects[0], VIEW, "gif"))) as gif:
        assert gif.n_frames == len(done) >= 2
    with av.open(io.BytesIO(cmp.animation(1, CYCLE, cmp.objects[0], VIEW, "mp4"))) as video:
        assert sum(1 for _ in video.decode(video=0)) == len(sorted(cmp.stores[1].available(CYCLE, VIEW)))
    with zipfile.ZipFile(io.BytesIO(cmp.masks_zip(0, VIEW))) as z:
        names = z.namelist()
        assert names == [f"{name}/{f}.png" for f in ds[name].frame_names]
        first = np.array(Image.open(io.BytesIO(z.read(names[1]))))
    np.testing.assert_array_equal(first, cmp.stores[0].labels(VIEW)[1])
    with pytest.raises(Exception, match="computed yet"):
        cmp.animation(0, MapKey.saliency("gradcam", "query"), cmp.objects[0], VIEW)


def test_panels_carry_raw_scales_and_filled_masks(setup):
    from erfkit.dashboard import Display
    from erfkit.viz.render import frame_with_masks

    root, paths, ds, name = setup
    cmp, _ = _open(root, paths, ds, name)
    obj = cmp.objects[0]
    masks = cmp.mask_panels(2, obj, VIEW)
    pred = masks.preds[0]
    assert masks.truth_kind == "ground truth" and masks.metric_mask == "ground truth"
    image = ds[name].read_frame(2)
    np.testing.assert_array_equal(masks.images[0], frame_with_masks(image, ds[name].read_annotation(2) == obj, pred))
    square = np.zeros(image.shape[:2], bool)
    square[10:30, 20:50] = True
    filled = frame_with_masks(image, None, square)  # the prediction is filled, the rest untouched
    assert (filled[12:28, 22:48] != image[12:28, 22:48]).any(-1).all()
    np.testing.assert_array_equal(filled[40:, 60:], image[40:, 60:])
    panels = cmp.method_panels(2, obj, CYCLE, VIEW, Display(clip=99.0))
    raw = panels.maps
    assert [s.high for s in panels.scales[:2]] == [max(float(np.percentile(m.astype(np.float64), 99)) for m in raw)] * 2
    assert panels.scales[0].clipped and panels.scales[0].log and panels.scales[2].low == -panels.scales[2].high
    assert all(img.shape[:2] == image.shape[:2] for img in panels.images)  # no colour bar drawn into the image
    per_map = cmp.method_panels(2, obj, CYCLE, VIEW, Display(shared=False, scale="linear"))
    assert [s.high for s in per_map.scales[:2]] == [float(m.max()) for m in raw]


def test_timeline_onset_and_mask_events(setup):
    from erfkit.evaluation import error_onset, mask_events

    root, paths, ds, name = setup
    cmp, _ = _open(root, paths, ds, name)
    obj = cmp.objects[0]
    tl = cmp.timeline(VIEW, obj)
    labels = {label: cmp.segmentation(i, VIEW) for i, label in enumerate(cmp.labels)}
    onset = error_onset(ds[name], labels, object_id=obj)
    assert tl.signal == "J" and tl.onset == onset.onset and tl.divergence == onset.divergence
    for label in cmp.labels:
        np.testing.assert_array_equal(tl.curves[label], onset.curves[label])
    assert len(tl.table()) == 2 * len(ds[name]) and set(tl.table()["checkpoint"]) == set(cmp.labels)
    # mask events: a mask that vanishes, one that fills the frame, one that moves away
    base = np.zeros((40, 40), np.uint8)
    base[10:20, 10:20] = 1
    gone, full, moved = np.zeros_like(base), np.ones_like(base), np.roll(base, 15, axis=1)
    events = mask_events([base, base, gone, full, base, moved, moved], 1)
    # frame 4 leaves the whole frame for the square: a jump too; frame 5 moves the square away
    assert [(e.frame, e.kind) for e in events] == [(2, "collapse"), (3, "explosion"), (4, "jump"), (5, "jump")]
    # an object given later is measured from the frame it appears in
    assert [(e.frame, e.kind) for e in mask_events([gone, base, gone], 1)] == [(2, "collapse")]


def test_worker_computes_ahead_and_all_frames_with_a_cancel(setup):
    from erfkit.dashboard import Worker
    from erfkit.dashboard.worker import SEGMENT_STEP

    root, paths, ds, name = setup
    settings = DashboardSettings(data=str(ds.root), checkpoints=paths, cache=str(root / "worker-cache"))
    cmp = Comparison.open(settings, name, dataset=ds)  # a cache of its own: nothing computed yet
    keys = [CYCLE]
    worker = Worker(cmp)
    worker.prefetch([2, 5], keys, VIEW)
    assert worker.wait(120) and cmp.computed_frames(VIEW) == [2, 5]
    status = worker.status()
    steps = -(-len(ds[name]) // SEGMENT_STEP)  # first the video's segmentation, in steps, A and B in turn
    assert not status.running and status.done == status.total == 2 * steps + 4 and not status.error
    worker.prefetch([2, 5], keys, VIEW)  # all there: nothing to do, the last state stays
    assert worker.status() == status
    worker.compute_all(range(len(ds[name])), keys, VIEW)
    worker.cancel()  # the map in hand is finished, nothing more
    assert worker.wait(120)
    assert len(cmp.computed_frames(VIEW)) <= 3 and worker.status().done <= 1


def test_memory_read_and_distinct_labels(setup):
    from erfkit.dashboard.comparison import distinct
    from erfkit.explain.temporal import temporal_attribution

    root, paths, ds, name = setup
    cmp, models = _open(root, paths, ds, name)
    obj = cmp.objects[0]
    read = cmp.memory_read(1, 3, obj, (20, 30), VIEW)
    direct = temporal_attribution(models[paths[1]], ds[name], 3, obj, point=(20, 30))
    np.testing.assert_allclose(read.point_mass, direct.point_mass)
    assert abs(read.point_mass.sum() - 1) < 1e-5 and read.point_maps.shape[1:] == ds[name].read_frame(0).shape[:2]
    assert cmp.memory_read(1, 3, obj, (20, 30), VIEW) is read  # kept
    with pytest.raises(Exception, match="frame 0"):
        cmp.memory_read(0, 0, obj, (20, 30), VIEW)
    with pytest.raises(Exception, match="outside"):
        cmp.memory_read(0, 3, obj, (500, 30), VIEW)
    assert cmp.cell(VIEW) == 16.0  # the tiny checkpoints run at the file's size here
    assert distinct(["m", "m"], ["a", "b"]) == ["m (a)", "m (b)"] and distinct(["m", "m"]) == ["m", "m #2"]
    same = Comparison.open(DashboardSettings(data=str(ds.root), checkpoints=(paths[0], paths[0]),
                                             cache=str(root / "cache")), name, dataset=ds)
    assert len(set(same.labels)) == 2


def test_pseudo_truth_frames_the_rule_finds_implausible_leave_every_score(setup):
    """On the demo's `dog` (OSVOS masks after frame 0), OSVOS's failed frames leave J&F and the curves."""
    from erfkit.dashboard.settings import DEFAULT_DATA
    from erfkit.evaluation.video import score_video

    root, paths, _, _ = setup
    ds = DavisDataset(DEFAULT_DATA, "val")
    settings = DashboardSettings(data=str(DEFAULT_DATA), checkpoints=paths, cache=str(root / "cache-real"))
    cmp = Comparison.open(settings, "dog", dataset=ds, models={p: load_checkpoint(p) for p in paths})
    assert cmp.truth_kind == "pseudo ground truth"  # from the folder's marker
    bad = [14, 23, *range(40, 50)]
    assert cmp.left_out() == bad
    assert "12 of 60 frames left out" in cmp.left_out_note() and "00040" in cmp.left_out_note()
    view = ViewSettings(steps=2, size="64x112")
    summary = cmp.summary(view)[0]
    j = np.array(summary.per_frame_j)
    assert np.isnan(j[bad]).all() and not np.isnan(j[[1, 13, 15, 39, 50]]).any()
    every = score_video(cmp.video, cmp.segmentation(0, view))
    keep = [i for i, f in enumerate(every.frames) if int(f) not in bad]
    assert summary.jf == pytest.approx(float((every.J[:, keep].mean() + every.F[:, keep].mean()) / 2))
    # real ground truth is never left out
    real = Comparison(cmp.video, cmp.stores, truth_kind="ground truth")
    assert real.left_out() == [] and real.left_out_note() is None


def test_a_segmentation_cut_by_a_bad_frame_starts_over(setup, tmp_path, monkeypatch):
    """A frame that cannot be read stops the streamed segmentation with its error; the next request starts over
    (once the frame reads) and gives the same masks as a segmentation in one go, never a shortened list."""
    from erfkit.errors import DataError
    from erfkit.explain.atlas import predict_labels

    root, paths, ds, name = setup
    settings = DashboardSettings(data=str(ds.root), checkpoints=paths, cache=str(tmp_path / "cache"))
    cmp = Comparison.open(settings, name, dataset=ds)
    store, read = cmp.stores[0], cmp.video.read_frame

    def broken(t):
        if t == 3:
            raise DataError("cannot read this frame", f"{t:05d}.jpg")
        return read(t)
    monkeypatch.setattr(cmp.video, "read_frame", broken)
    assert len(store.labels_until(VIEW, 1)) == 2
    with pytest.raises(DataError, match="cannot read"):
        store.labels_until(VIEW, 5)
    monkeypatch.setattr(cmp.video, "read_frame", read)
    labels = store.labels_until(VIEW, len(cmp.video) - 1)
    whole = predict_labels(store.model, cmp.video, size=store.size(VIEW))
    assert len(labels) == len(whole) and all(np.array_equal(a, b) for a, b in zip(labels, whole))
    assert store.has_labels(VIEW)


def test_an_stm_beside_an_xmem(setup):
    """A and B of different families: the same panels; maps in one unit share a scale, Grad-CAM (each family's
    own layer) does not and says why; the explorer reads XMem's own memory."""
    from erfkit.dashboard import Display

    root, paths, ds, name = setup
    xmem = str(save_checkpoint(build_model("xmem-tiny", seed=0), root / "X", {"label": "xmem-tiny"}))
    cmp, _ = _open(root, (paths[0], xmem), ds, name)
    obj = cmp.objects[0]
    masks = cmp.mask_panels(6, obj, VIEW)
    assert len(masks.images) == 2 and masks.preds[1].shape == ds[name].size
    cycle = cmp.method_panels(6, obj, CYCLE, VIEW, Display(scale="linear"))
    assert cycle.note == "" and cycle.scales[0].high == cycle.scales[1].high == max(float(m.max()) for m in cycle.maps)
    gradcam = MapKey.saliency("gradcam", "query")
    cam = cmp.method_panels(6, obj, gradcam, ViewSettings(steps=2, saliency_method="gradcam"), Display(scale="linear"))
    assert "Decoder.RF2.ResMM" in cam.note and "decoder.up_8_4.skip_conv" in cam.note, cam.note
    assert [s.high for s in cam.scales[:2]] == [float(m.max()) for m in cam.maps]  # one scale each
    assert "not drawn" in cam.captions[2]
    read = cmp.memory_read(1, 7, obj, (20, 30), VIEW)
    assert read.memory_frames == [0, 5]  # XMem's working memory: every 5th frame, no STM "previous frame"
    assert abs(read.point_mass.sum() - 1) < 1e-5
    grey = cmp.memory_panel(None, read.point_maps[0], float(read.point_maps.max()))  # long-term: not one frame
    assert grey.shape == (*ds[name].size, 3)


def test_a_and_b_compute_at_once_on_two_threads(setup, tmp_path, monkeypatch):
    """Both checkpoints' missing maps are computed at once, B in a second thread, each single-threaded; the maps
    are those computed one after the other (up to the rounding of one thread against two). One checkpoint as
    A and B computes one after the other (one model, one cache)."""
    import threading

    root, paths, ds, name = setup
    first = lambda: _open(tmp_path / "x", paths, ds, name)[0]  # noqa: E731  (an empty cache each time)
    cmp = first()
    threads, counts = {}, []
    for side, store in enumerate(cmp.stores):
        original = store.get

        def get(*a, _side=side, _f=original, **k):
            threads[_side] = threading.current_thread()
            counts.append(__import__("torch").get_num_threads())
            return _f(*a, **k)
        monkeypatch.setattr(store, "get", get)
    both = cmp.maps_of_both(4, [CYCLE], VIEW)
    assert threads[0] is threading.main_thread() and threads[1] is not threading.main_thread()
    assert counts == [1, 1]
    (tmp_path / "x").rename(tmp_path / "parallel")
    alone = _open(tmp_path / "y", paths, ds, name)[0]
    sequential = [alone.maps(i, 4, [CYCLE], VIEW) for i in range(2)]
    for p, q in zip(both, sequential):
        a_, b_ = p[CYCLE].astype(np.float32), q[CYCLE].astype(np.float32)
        assert np.abs(b_).max() > 0 and np.abs(a_ - b_).max() <= 1e-3 * np.abs(b_).max()  # equal here, in fact
        np.testing.assert_array_equal(p["pred"], q["pred"])
    same = _open(tmp_path / "z", (paths[0], paths[0]), ds, name)[0]
    assert not same._parallel()
