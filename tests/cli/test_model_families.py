"""``erfkit erf`` and ``erfkit info`` on a checkpoint of each model family (a tiny random XMem here)."""

from __future__ import annotations

import csv

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
