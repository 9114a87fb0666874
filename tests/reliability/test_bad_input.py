"""Bad input, everywhere a user gives a path: one line naming the file and the problem, exit 2, nothing half-written.

Each case damages a copy of a small valid dataset (or checkpoint, or results
folder) and runs a real CLI verb on it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from erfkit.cli import main
from erfkit.data import write_mask
from erfkit.model.checkpoint import save_checkpoint

RES = "64p"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, tiny_model):
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("bad-ck") / "m")


@pytest.fixture()
def data(tmp_path, tiny_synth):
    root = tmp_path / "data"
    shutil.copytree(tiny_synth, root)
    return root


def first_seq(root: Path) -> str:
    return (root / "ImageSets" / "2017" / "val.txt").read_text().split()[0]


def frames_of(root: Path, seq: str) -> Path:
    return root / "JPEGImages" / RES / seq


def masks_of(root: Path, seq: str) -> Path:
    return root / "Annotations" / RES / seq


def keep_only(root: Path, seq: str) -> None:
    (root / "ImageSets" / "2017" / "val.txt").write_text(seq + "\n")


def leftovers(folder: Path) -> list[Path]:
    """Files or folders that would betray a half-written output."""
    if not folder.exists():
        return []
    return [p for p in folder.rglob("*") if p.name.endswith((".tmp", ".partial")) or ".partial" in p.parts[-2:]]


def expect_error(capsys, args: list[str], *fragments: str) -> str:
    rc = main(args)
    stderr = capsys.readouterr().err
    assert rc == 2, f"exit {rc}: {stderr[-500:]}"
    assert "Traceback" not in stderr
    # progress bars may precede it; the error itself is exactly one line
    errors = [ln for ln in stderr.replace("\r", "\n").splitlines() if ln.startswith("erfkit: error: ")]
    assert len(errors) == 1, stderr[-500:]
    assert stderr.rstrip().endswith(errors[0])
    for f in fragments:
        assert f in errors[0], f"{f!r} not in {errors[0]!r}"
    return errors[0]


# --------------------------------------------------------------------- segment
def _segment(ckpt, data, out, *extra):
    return ["segment", "--checkpoint", str(ckpt), "--data", str(data), "--out", str(out), *extra]


def test_truncated_jpeg_frame(capsys, ckpt, data, tmp_path):
    seq = first_seq(data)
    keep_only(data, seq)
    f = frames_of(data, seq) / "00004.jpg"
    f.write_bytes(f.read_bytes()[:200])
    out = tmp_path / "out"
    expect_error(capsys, _segment(ckpt, data, out), "00004.jpg", "truncated")
    assert not (out / seq).exists() and leftovers(out) == []


def test_corrupt_png_mask(capsys, ckpt, data, tmp_path):
    seq = first_seq(data)
    (masks_of(data, seq) / "00000.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    expect_error(capsys, _segment(ckpt, data, tmp_path / "out"), "00000.png")


def test_mask_of_the_wrong_mode(capsys, ckpt, data, tmp_path):
    seq = first_seq(data)
    Image.fromarray(np.zeros((64, 112, 3), np.uint8)).save(masks_of(data, seq) / "00000.png")
    expect_error(capsys, _segment(ckpt, data, tmp_path / "out"), "00000.png", "RGB image")


def test_mask_of_the_wrong_size(capsys, ckpt, data, tmp_path):
    seq = first_seq(data)
    keep_only(data, seq)
    m = np.zeros((30, 40), np.uint8)
    m[5:10, 5:10] = 1
    write_mask(masks_of(data, seq) / "00000.png", m)
    out = tmp_path / "out"
    expect_error(capsys, _segment(ckpt, data, out), "00000.png", "mask is 40x30 but frame")
    assert not (out / seq).exists()


def test_empty_first_frame_mask(capsys, ckpt, data, tmp_path):
    seq = first_seq(data)
    write_mask(masks_of(data, seq) / "00000.png", np.zeros((64, 112), np.uint8))
    expect_error(capsys, _segment(ckpt, data, tmp_path / "out"), "00000.png", "empty")


def test_more_objects_than_allowed(capsys, ckpt, data, tmp_path):
    seq = first_seq(data)
    m = np.zeros((64, 112), np.uint8)
    m[2:10, 2:10], m[20:30, 20:30], m[40:50, 40:50] = 1, 7, 200
    write_mask(masks_of(data, seq) / "00000.png", m)
    expect_error(capsys, _segment(ckpt, data, tmp_path / "out", "--max-objects", "2"), "00000.png",
                 "3 objects, more than the 2 allowed")


def test_mask_ids_above_255(capsys, ckpt, data, tmp_path):
    seq = first_seq(data)
    m = np.zeros((64, 112), np.uint16)
    m[2:10, 2:10] = 300
    Image.fromarray(m).save(masks_of(data, seq) / "00000.png")
    expect_error(capsys, _segment(ckpt, data, tmp_path / "out"), "00000.png", "300")


def test_sequence_with_one_frame(capsys, ckpt, data, tmp_path):
    seq = first_seq(data)
    keep_only(data, seq)
    for p in sorted(frames_of(data, seq).iterdir())[1:]:
        p.unlink()
    for p in sorted(masks_of(data, seq).iterdir())[1:]:
        p.unlink()
    expect_error(capsys, _segment(ckpt, data, tmp_path / "out"), seq, "at least 2")


def test_sequence_with_no_frames(capsys, ckpt, data, tmp_path):
    seq = first_seq(data)
    keep_only(data, seq)
    for p in frames_of(data, seq).iterdir():
        p.unlink()
    expect_error(capsys, _segment(ckpt, data, tmp_path / "out"), seq, "no frames")


def test_sequence_listed_but_absent(capsys, ckpt, data, tmp_path):
    (data / "ImageSets" / "2017" / "val.txt").write_text("ghost\n")
    expect_error(capsys, _segment(ckpt, data, tmp_path / "out"), "val.txt", "'ghost' is listed")


def test_non_ascii_names_work(capsys, ckpt, data, tmp_path):
    seq = first_seq(data)
    name = "vidéo-ü-猫"
    for kind in ("JPEGImages", "Annotations"):
        (data / kind / RES / seq).rename(data / kind / RES / name)
    (data / "ImageSets" / "2017" / "val.txt").write_text(name + "\n")
    out = tmp_path / "résultats"
    assert main(_segment(ckpt, data, out, "--eval")) == 0
    assert len(list((out / name).glob("*.png"))) == 8
    assert f"{name}_1" in (out / "per-sequence_results-val.csv").read_text(encoding="utf-8")


def test_folder_mode_missing_mask(capsys, ckpt, data, tmp_path):
    seq = first_seq(data)
    expect_error(capsys, ["segment", "--checkpoint", str(ckpt), "--frames", str(frames_of(data, seq)), "--mask",
                          str(tmp_path / "none.png"), "--out", str(tmp_path / "o")], "none.png", "not found")


def test_bad_checkpoint_file(capsys, data, tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    expect_error(capsys, _segment(bad, data, tmp_path / "out"), "broken.pth", "not a readable checkpoint")


@pytest.mark.parametrize("meta,fragment", [("{oops", "malformed JSON"),
                                           ('{"videos": {"../../x": {"objects": {}}}}', "outside the dataset")])
def test_youtube_meta_json(capsys, ckpt, tmp_path, meta, fragment):
    from tests.data.youtube_layout import make_youtube

    make_youtube(tmp_path / "yt", "valid")
    (tmp_path / "yt" / "valid" / "meta.json").write_text(meta)
    expect_error(capsys, _segment(ckpt, tmp_path / "yt", tmp_path / "out", "--youtube"), "meta.json", fragment)


# ------------------------------------------------------------------------ eval
@pytest.fixture()
def results(tmp_path, ckpt, data):
    out = tmp_path / "res"
    assert main(_segment(ckpt, data, out)) == 0
    return out


def _eval(data, res):
    return ["eval", "--data", str(data), "--results", str(res), "--workers", "1"]


def test_results_missing_frames(capsys, data, results):
    seq = first_seq(data)
    (results / seq / "00003.png").unlink()
    expect_error(capsys, _eval(data, results), "00003.png", "missing result frame")
    assert not (results / "global_results-val.csv").exists()


def test_results_truncated_png(capsys, data, results):
    seq = first_seq(data)
    p = results / seq / "00002.png"
    p.write_bytes(p.read_bytes()[:30])
    expect_error(capsys, _eval(data, results), "00002.png", "truncated")


def test_results_with_unknown_ids(capsys, data, results):
    seq = first_seq(data)
    write_mask(results / seq / "00002.png", np.full((64, 112), 9, np.uint8))
    expect_error(capsys, _eval(data, results), "00002.png", "object id 9")


def test_results_of_the_wrong_size(capsys, data, results):
    seq = first_seq(data)
    write_mask(results / seq / "00002.png", np.zeros((10, 10), np.uint8))
    expect_error(capsys, _eval(data, results), "00002.png", "10x10")


def test_eval_sequence_too_short(capsys, data, results):
    seq = first_seq(data)
    for p in sorted(masks_of(data, seq).iterdir())[2:]:
        p.unlink()
    expect_error(capsys, _eval(data, results), "at least 3")


# ----------------------------------------------------------------------- train
def test_train_on_missing_data(capsys, tmp_path):
    expect_error(capsys, ["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run"), "--preset",
                          "test"], "none", "not found")
    assert not (tmp_path / "run").exists()


def test_train_on_a_corrupt_mask(capsys, data, tmp_path):
    for seq in (data / "ImageSets" / "2017" / "train.txt").read_text().split():
        for p in masks_of(data, seq).iterdir():
            p.write_bytes(b"garbage")
    expect_error(capsys, ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--preset", "test"],
                 ".png", "not an image")
    assert not (tmp_path / "run").exists()


def test_train_bad_setting(capsys, data, tmp_path):
    expect_error(capsys, ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--preset", "test",
                          "--set", "lr=-1"], "lr must be > 0")


# ------------------------------------------------------------------ erf, dashboard, synth
def test_erf_unknown_sequence_and_corrupt_frame(capsys, ckpt, data, tmp_path):
    expect_error(capsys, ["erf", "--checkpoint", str(ckpt), "--data", str(data), "--sequence", "nope", "--out",
                          str(tmp_path / "a")], "val.txt", "no sequence 'nope'")
    seq = first_seq(data)
    (frames_of(data, seq) / "00005.jpg").write_bytes(b"\xff\xd8garbage")
    out = tmp_path / "atlas"
    expect_error(capsys, ["erf", "--checkpoint", str(ckpt), "--data", str(data), "--sequence", seq, "--out",
                          str(out), "--steps", "1"], "00005.jpg")
    assert not (out / "frames").exists() or not any((out / "frames").iterdir())


def test_dashboard_bad_data_and_checkpoint(capsys, ckpt, data, tmp_path):
    expect_error(capsys, ["dashboard", "--data", str(tmp_path / "none"), "--checkpoint", str(ckpt), "--checkpoint",
                          str(ckpt)], "none")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    expect_error(capsys, ["dashboard", "--data", str(data), "--checkpoint", str(ckpt), "--checkpoint", str(bad)],
                 "bad.safetensors")


def test_synth_refuses_to_overwrite_and_bad_size(capsys, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "mine.txt").write_text("keep")
    expect_error(capsys, ["synth", str(tmp_path / "x"), "--preset", "tiny"], "x", "exists and is not empty")
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["mine.txt"]
    expect_error(capsys, ["synth", str(tmp_path / "y"), "--size", "240by427"], "--size")
    assert not (tmp_path / "y").exists()
