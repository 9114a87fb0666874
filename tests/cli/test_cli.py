"""The erfkit command: verbs, outputs, one-line errors and exit codes."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from erfkit.cli import main
from erfkit.model.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, tiny_model):
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ck") / "tiny")


def test_segment_a_split_then_evaluate(tmp_path, tiny_synth, ckpt, capsys):
    out = tmp_path / "res"
    assert main(["segment", "--checkpoint", str(ckpt), "--data", str(tiny_synth), "--out", str(out), "--eval"]) == 0
    text = capsys.readouterr().out
    assert "frames/s" in text and "J&F-Mean" in text
    seq = sorted(p for p in out.iterdir() if p.is_dir())[0]
    im = Image.open(sorted(seq.glob("*.png"))[0])
    assert im.mode == "P" and im.getpalette()[3:6] == [128, 0, 0]
    assert (out / "global_results-val.csv").is_file()
    # a second run with the same settings skips what is complete
    assert main(["segment", "--checkpoint", str(ckpt), "--data", str(tiny_synth), "--out", str(out)]) == 0
    assert "3 already complete" in capsys.readouterr().out
    # other settings are not mixed in
    assert main(["segment", "--checkpoint", str(ckpt), "--data", str(tiny_synth), "--out", str(out),
                 "--memory", "first"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_copy_first_floor_copies_the_first_mask_to_every_frame(tmp_path, tiny_synth, capsys):
    out = tmp_path / "floor"
    assert main(["segment", "--copy-first", "--data", str(tiny_synth), "--out", str(out), "--eval"]) == 0
    assert "J&F-Mean" in capsys.readouterr().out
    ann = tiny_synth / "Annotations" / "64p"
    seqs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert seqs == sorted((tiny_synth / "ImageSets" / "2017" / "val.txt").read_text().split())
    for seq in seqs:
        first = np.array(Image.open(ann / seq / "00000.png"))
        pngs = sorted((out / seq).glob("*.png"))
        assert len(pngs) == len(list((tiny_synth / "JPEGImages" / "64p" / seq).glob("*.jpg")))
        for p in pngs:
            assert np.array_equal(np.array(Image.open(p)), first), p
    with open(out / "global_results-val.csv", newline="") as f:
        score = float(next(csv.DictReader(f))["J&F-Mean"])
    assert 0 < score < 1  # the objects move: copying the first mask is right at the start only


def test_segment_a_folder_with_a_first_mask(tmp_path, tiny_synth, ckpt):
    frames = tiny_synth / "JPEGImages" / "64p" / "val000-horse"
    if not frames.exists():
        frames = sorted((tiny_synth / "JPEGImages" / "64p").iterdir())[0]
    mask = tiny_synth / "Annotations" / "64p" / frames.name / "00000.png"
    assert main(["segment", "--checkpoint", str(ckpt), "--frames", str(frames), "--mask", str(mask),
                 "--out", str(tmp_path / "r"), "--gc-iters", "2"]) == 0
    assert len(list((tmp_path / "r" / frames.name).glob("*.png"))) == len(list(frames.glob("*.jpg")))


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, tiny_synth, capsys):
    assert main(["segment", "--checkpoint", str(tmp_path / "none.safetensors"), "--data", str(tiny_synth),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "none.safetensors" in err and "Traceback" not in err
    assert main(["eval", "--data", str(tmp_path / "nowhere"), "--results", str(tmp_path)]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_mask_of_the_wrong_size(tmp_path, tiny_synth, ckpt, capsys):
    frames = sorted((tiny_synth / "JPEGImages" / "64p").iterdir())[0]
    bad = tmp_path / "bad.png"
    Image.fromarray(np.ones((5, 5), np.uint8)).save(bad)
    assert main(["segment", "--checkpoint", str(ckpt), "--frames", str(frames), "--mask", str(bad),
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "bad.png" in err and "5x5" in err
    assert not (tmp_path / "r" / frames.name).exists()


def test_debug_shows_the_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "erfkit", "--debug", "info", str(tmp_path / "x.pth")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" in r.stderr and "x.pth" in r.stderr
    r = subprocess.run([sys.executable, "-m", "erfkit", "info", str(tmp_path / "x.pth")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_synth_verb(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "s"), "--preset", "tiny", "--videos", "4", "--frames", "5",
                 "--size", "48x64", "--seed", "2"]) == 0
    assert (tmp_path / "s" / "ImageSets" / "2017" / "val.txt").read_text().count("\n") == 1
    assert main(["synth", str(tmp_path / "t"), "--size", "48by64"]) == 2
    assert "--size" in capsys.readouterr().err


def test_experiment_fig1_small_writes_the_figure(tmp_path, tiny_synth, ckpt, capsys):
    out = tmp_path / "figs"
    assert main(["experiment", "fig1", "--small", "--data", str(tiny_synth), "--baseline", str(ckpt),
                 "--cyclic", str(ckpt), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["fig1_error_propagation.pdf", "fig1_error_propagation.png"]
    assert all(p.stat().st_size > 0 for p in out.iterdir())
    assert str(out / "fig1_error_propagation.png") in capsys.readouterr().out


def test_experiment_verb_writes_only_what_is_asked(tmp_path, tiny_synth, ckpt, capsys):
    out = tmp_path / "tabs"
    args = ["experiment", "--data", str(tiny_synth), "--baseline", str(ckpt), "--cyclic", str(ckpt), "--quick"]
    assert main(args + ["table4", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["table4.csv", "table4.md"]
    assert "Table 4" in capsys.readouterr().out  # the table's markdown
    # the same checkpoint on both sides: no gain, and better on none of the objects (paired)
    rows = list(csv.DictReader(open(out / "table4.csv")))
    assert [float(r["gain"]) for r in rows] == [0.0] * 4
    assert all(r["objects_cyclic_better"] == "0" and int(r["objects"]) > 0 for r in rows)
    # unknown names fail in one line, before anything is loaded or written
    assert main(args + ["fig1,fig9", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown experiment 'fig9'" in err
    assert not (tmp_path / "x").exists()


def test_figures_is_a_deprecated_alias_of_experiment(tmp_path, tiny_synth, ckpt, capsys):
    out = tmp_path / "figs"
    assert main(["figures", "--data", str(tiny_synth), "--baseline", str(ckpt), "--cyclic", str(ckpt), "--small",
                 "--out", str(out), "--only", "fig5"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "deprecated" in captured.err and "erfkit experiment fig5" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["fig5_qualitative.pdf", "fig5_qualitative.png"]
    assert captured.out.split() == [str(out / "fig5_qualitative.png"), str(out / "fig5_qualitative.pdf")]
