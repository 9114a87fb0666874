"""The YouTube-VOS layout: meta.json, late objects, frame names, sparse annotations, bad meta."""

from __future__ import annotations


import numpy as np
import pytest

from erfkit.data import YouTubeVOSDataset
from erfkit.errors import DataError

from .youtube_layout import make_youtube, object_masks


def test_valid_split_with_sparse_annotations(tmp_path):
    make_youtube(tmp_path, "valid")
    ds = YouTubeVOSDataset(tmp_path, "valid")
    assert ds.names == ["vid0"]
    seq = ds["vid0"]
    assert seq.frame_names[0] == "00005"  # names need not start at 00000
    assert sorted(seq.annotation_paths) == [0, 2]
    assert seq.object_frames == {1: 0, 2: 2}
    assert seq.categories == {1: "cat", 2: "zebra"}
    assert seq.prompt_indices == [0, 2]
    assert set(np.unique(seq.prompt(2))) == {0, 2}
    assert seq.prompt(1) is None
    seq.check_prompts()


def test_train_split_prompts_hold_only_new_objects(tmp_path):
    make_youtube(tmp_path, "train", sparse=False)
    seq = YouTubeVOSDataset(tmp_path, "train")["vid0"]
    assert len(seq.annotation_paths) == 6
    # frame 2's annotation labels both objects; the prompt gives only the new one
    assert set(np.unique(seq.read_annotation(2))) == {0, 1, 2}
    assert set(np.unique(seq.prompt(2))) == {0, 2}
    assert np.array_equal(seq.read_annotation(3), object_masks(3))


@pytest.mark.parametrize("meta,match", [
    ("{not json", "malformed JSON"),
    ('{"videos": []}', "expected"),
    ('{"videos": {"../../etc": {"objects": {}}}}', "outside the dataset"),
    ('{"videos": {"vid0": {"objects": {"1": {"category": "c", "frames": ["../x"]}}}}}', "outside the dataset"),
    ('{"videos": {"vid0": {"objects": {"one": {"category": "c", "frames": ["00005"]}}}}}', "not an integer"),
    ('{"videos": {"vid0": {"objects": {"1": {"category": "c", "frames": ["99999"]}}}}}', "does not exist"),
])
def test_bad_meta_json(tmp_path, meta, match):
    make_youtube(tmp_path, "valid")
    (tmp_path / "valid" / "meta.json").write_text(meta)
    with pytest.raises(DataError, match=match) as e:
        ds = YouTubeVOSDataset(tmp_path, "valid")
        ds["vid0"]
    assert "meta.json" in str(e.value)


def test_missing_meta(tmp_path):
    with pytest.raises(DataError, match="meta.json not found"):
        YouTubeVOSDataset(tmp_path, "valid")
