"""The DAVIS 2017 layout, on the real DAVIS-shaped masks and on small data made here."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from erfkit.data import DavisDataset, folder_sequence, write_mask
from erfkit.errors import DataError


def test_real_masks_as_davis_annotations(davis_real):
    ds = DavisDataset(davis_real, "val", frames=False)
    assert ds.resolution == "480p"  # found: the only resolution folder
    assert len(ds) == 30
    widths = {ds[n].read_annotation(0).shape[1] for n in ds.names}
    assert widths == {854, 910, 1152}
    total = sum(len(ds.annotation_files(n)) for n in ds.names)
    assert total == 1999
    lab = ds["lab-coat"]
    assert sorted(lab.object_frames) == [3, 4, 5]  # its first frame lacks ids 1 and 2
    first = lab.read_annotation(0)
    assert set(np.unique(first)) == {0, 3, 4, 5}
    assert sorted(ds["gold-fish"].object_frames) == [1, 2, 3, 4, 5]


def _make_davis(root, seqs: dict[str, int], size=(24, 40), res="480p"):
    for name, n in seqs.items():
        for t in range(n):
            f = np.full((*size, 3), 20 * t % 255, np.uint8)
            (root / "JPEGImages" / res / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(f).save(root / "JPEGImages" / res / name / f"{t:05d}.jpg")
            m = np.zeros(size, np.uint8)
            m[2 + t: 10 + t, 3:12] = 1
            write_mask(root / "Annotations" / res / name / f"{t:05d}.png", m)
    (root / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("".join(n + "\n" for n in seqs))


def test_frames_stream_lazily(tmp_path):
    _make_davis(tmp_path, {"a": 5, "b": 3})
    ds = DavisDataset(tmp_path, "val")
    seq = ds["a"]
    assert len(seq) == 5 and seq.frame_names == ["00000", "00001", "00002", "00003", "00004"]
    it = seq.iter_frames()
    first = next(it)
    assert first.shape == (24, 40, 3)
    assert seq.prompt(0) is not None and seq.prompt(1) is None
    assert seq.object_frames == {1: 0}


def test_resolution_folders(tmp_path):
    _make_davis(tmp_path, {"a": 3}, res="Full-Resolution")
    assert DavisDataset(tmp_path, "val").resolution == "Full-Resolution"
    _make_davis(tmp_path, {"a": 3}, res="720p")
    with pytest.raises(DataError, match="several resolution folders"):
        DavisDataset(tmp_path, "val")
    assert DavisDataset(tmp_path, "val", resolution="720p").resolution == "720p"


def test_listed_sequence_absent(tmp_path):
    _make_davis(tmp_path, {"a": 3})
    (tmp_path / "ImageSets" / "2017" / "val.txt").write_text("a\nghost\n")
    with pytest.raises(DataError, match="'ghost' is listed") as e:
        DavisDataset(tmp_path, "val")
    assert "val.txt" in str(e.value)


def test_missing_split_and_missing_frame(tmp_path):
    _make_davis(tmp_path, {"a": 3})
    with pytest.raises(DataError, match="split 'test' not found"):
        DavisDataset(tmp_path, "test")
    (tmp_path / "JPEGImages" / "480p" / "a" / "00001.jpg").unlink()
    with pytest.raises(DataError, match="annotation has no frame") as e:
        DavisDataset(tmp_path, "val")["a"]
    assert "00001.png" in str(e.value)


def test_mask_size_differs_from_frame(tmp_path):
    _make_davis(tmp_path, {"a": 3})
    write_mask(tmp_path / "Annotations" / "480p" / "a" / "00000.png", np.ones((10, 10), np.uint8))
    seq = DavisDataset(tmp_path, "val")["a"]
    with pytest.raises(DataError, match="mask is 10x10 but frame 00000.jpg is 40x24") as e:
        seq.check_prompts()
    assert "00000.png" in str(e.value)


def test_empty_first_frame_mask(tmp_path):
    _make_davis(tmp_path, {"a": 3})
    write_mask(tmp_path / "Annotations" / "480p" / "a" / "00000.png", np.zeros((24, 40), np.uint8))
    seq = DavisDataset(tmp_path, "val")["a"]
    with pytest.raises(DataError, match="empty") as e:
        seq.check_prompts()
    assert "00000.png" in str(e.value)


def test_rgb_first_mask(tmp_path):
    _make_davis(tmp_path, {"a": 3})
    Image.fromarray(np.zeros((24, 40, 3), np.uint8)).save(tmp_path / "Annotations" / "480p" / "a" / "00000.png")
    with pytest.raises(DataError, match="RGB image"):
        DavisDataset(tmp_path, "val")["a"]


def test_split_names_outside_the_dataset(tmp_path):
    _make_davis(tmp_path, {"a": 3})
    (tmp_path / "ImageSets" / "2017" / "val.txt").write_text("../../etc\n")
    with pytest.raises(DataError, match="outside the dataset"):
        DavisDataset(tmp_path, "val")


def test_folder_of_frames_and_one_mask(tmp_path):
    _make_davis(tmp_path, {"clip": 4})
    seq = folder_sequence(tmp_path / "JPEGImages" / "480p" / "clip", tmp_path / "Annotations" / "480p" / "clip" / "00000.png")
    assert len(seq) == 4 and seq.object_frames == {1: 0}
    seq.check_prompts()
    with pytest.raises(DataError, match="no frames"):
        (tmp_path / "empty").mkdir()
        folder_sequence(tmp_path / "empty", tmp_path / "Annotations" / "480p" / "clip" / "00000.png")
