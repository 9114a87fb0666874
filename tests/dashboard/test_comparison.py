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
    assert [c for _, c in view.rows[0]][1:] == ["A: cycle-ERF", "A: classic ERF (memory)", "A: saliency (memory)"]
    assert [c for _, c in view.difference][0] == "A - B: cycle-ERF"
    stored = views.Atlas(root / "atlas" / "A").load(3)
    k = cmp.objects.index(cmp.objects[0])
    np.testing.assert_array_equal(view.maps[0][CYCLE], stored["cycle"][k].astype(np.float32))
    np.testing.assert_array_equal(view.preds[0], stored["pred"] == cmp.objects[0])
    assert len(thumbs) == 3
    assert len(tables.frame) == 2 * len(VIEW.map_keys())  # each checkpoint's stored rows of this frame and object
    assert set(tables.frame["method"]) == {k.name for k in VIEW.map_keys()}
    with np.load(__import__("io").BytesIO(view.npz_bytes())) as z:
        assert {"frame", "A_cycle", "B_erf_memory", "A_pred"} <= set(z.files)
    assert view.figure_bytes("png")[:8] == b"\x89PNG\r\n\x1a\n"


def test_maps_on_demand_segment_each_video_once(setup, monkeypatch):
    root, paths, ds, name = setup
    calls = []
    original = views.predict_labels

    def counting(model, sequence, **kw):
        calls.append(model.checkpoint.label)
        return original(model, sequence, **kw)
    monkeypatch.setattr(views, "predict_labels", counting)
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
