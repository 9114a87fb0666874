"""``erfkit info``, ``erf`` (one video and a split), ``compare``, ``memory``, ``onset`` and ``dashboard`` on a checkpoint
of another family (a tiny random XMem)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from erfkit.cli import main
from erfkit.explain.atlas import Atlas
from erfkit.model import build_model
from erfkit.model.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def xmem_checkpoint(tmp_path_factory):
    return save_checkpoint(build_model("xmem-tiny", seed=0), tmp_path_factory.mktemp("xmem") / "xmem-tiny")


def test_info_names_the_family(xmem_checkpoint, capsys):
    assert main(["info", str(xmem_checkpoint)]) == 0
    assert "xmem" in capsys.readouterr().out.lower()


def test_erf_writes_every_map_of_an_xmem(tmp_path, tiny_synth, xmem_checkpoint, capsys):
    sequence = (tiny_synth / "ImageSets" / "2017" / "val.txt").read_text().split()[0]
    out = tmp_path / "atlas"
    assert main(["erf", "--checkpoint", str(xmem_checkpoint), "--data", str(tiny_synth), "--sequence", sequence,
                 "--out", str(out), "--frames", "0-1", "--steps", "2", "--methods", "cycle,classic,saliency",
                 "--saliency", "saliency,gradcam", "--metrics-every", "0", "--sanity-every", "0"]) == 0
    assert "2/8 frames" in capsys.readouterr().out
    atlas = Atlas(out)
    assert atlas.done == {0, 1}
    expected = {"cycle", "erf_query", "erf_memory", "saliency_saliency_query", "saliency_saliency_memory",
                "saliency_gradcam_query", "saliency_gradcam_memory"}
    for t in (0, 1):
        maps = atlas.load(t)
        assert expected <= set(maps), sorted(maps)
        for key in expected:
            m = maps[key].astype(np.float32)
            assert m.shape == (len(atlas.objects), 64, 112), (key, m.shape)
            assert np.isfinite(m).all() and np.abs(m).max() > 0, key  # a gradient reached the frame
        assert maps["pred"].shape == (64, 112)
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == expected
    assert all(np.isfinite(float(r["energy"])) for r in rows)


def test_memory_explains_an_xmem_read(tmp_path, tiny_synth, xmem_checkpoint, capsys):
    """The tiny videos are 8 frames: XMem's defaults (a frame memorised every 5) keep frames 0 and 5; no
    long-term memory yet, so the units are the two working frames."""
    sequence = (tiny_synth / "ImageSets" / "2017" / "val.txt").read_text().split()[0]
    out = tmp_path / "memory"
    assert main(["memory", "--checkpoint", str(xmem_checkpoint), "--data", str(tiny_synth), "--sequence", sequence,
                 "--frame", "7", "--object", "1", "--point", "30,50", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "00000" in printed and "00005" in printed, printed
    doc = json.loads((out / "memory.json").read_text())
    assert doc["memory_frames"] == [0, 5] and [u["kind"] for u in doc["units"]] == ["frame", "frame"]
    assert abs(sum(doc["share"]) - 1) < 1e-5 and abs(sum(doc["point_mass"]) - 1) < 1e-5
    assert (out / "memory.png").stat().st_size > 0 and (out / "memory.pdf").stat().st_size > 0


def test_onset_compares_an_stm_and_an_xmem(tmp_path, tiny_synth, xmem_checkpoint, tiny_model, capsys):
    stm = save_checkpoint(tiny_model, tmp_path / "stm", {"label": "stm-tiny"})
    sequence = (tiny_synth / "ImageSets" / "2017" / "val.txt").read_text().split()[0]
    assert main(["onset", "--checkpoint", str(stm), "--checkpoint", str(xmem_checkpoint), "--data", str(tiny_synth),
                 "--sequence", sequence, "--out", str(tmp_path / "onset")]) == 0
    doc = json.loads((tmp_path / "onset" / "onset.json").read_text())
    assert len(doc["onset"]) == 2 and "stm-tiny" in doc["onset"], doc["onset"]


def test_the_dashboard_takes_an_xmem_as_b(tiny_synth, xmem_checkpoint, tiny_model, tmp_path):
    from erfkit.cli import build_parser
    from erfkit.cli.dashboard import settings

    stm = save_checkpoint(tiny_model, tmp_path / "stm")
    args = build_parser().parse_args(["dashboard", "--checkpoint", str(stm), "--checkpoint", str(xmem_checkpoint),
                                      "--data", str(tiny_synth)])
    assert settings(args).checkpoints == (str(stm), str(xmem_checkpoint))


def test_a_dataset_run_of_an_xmem_compares_with_an_stm(tmp_path, tiny_synth, xmem_checkpoint, tiny_model, capsys):
    """`erfkit erf` over a split (the dataset store) and `erfkit compare` take an XMem as they take an STM."""
    stm = save_checkpoint(tiny_model, tmp_path / "stm")
    sequence = (tiny_synth / "ImageSets" / "2017" / "val.txt").read_text().split()[0]
    for name, ck in (("stm", stm), ("xmem", xmem_checkpoint)):
        assert main(["erf", "--checkpoint", str(ck), "--data", str(tiny_synth), "--sequences", sequence,
                     "--out", str(tmp_path / name), "--steps", "2", "--methods", "cycle,classic",
                     "--metrics-every", "4", "--sanity-every", "0"]) == 0
    assert main(["compare", str(tmp_path / "stm"), str(tmp_path / "xmem"), "--out", str(tmp_path / "report"),
                 "--reps", "100"]) == 0
    with open(tmp_path / "report" / "report.csv", newline="") as f:
        rows = {r["metric"]: r for r in csv.DictReader(f)}
    assert "J" in rows and "cycle/deletion" in rows, sorted(rows)
    assert all(np.isfinite(float(rows[m]["difference"])) for m in ("J", "cycle/deletion"))
