"""Property-based tests (hypothesis): mask I/O, the evaluator's invariants, the atlas and checkpoint readers.

Derandomised, so every run checks the same examples; the number of examples
of each test is set in ``settings`` below.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from erfkit.data.masks import mask_bytes, read_mask
from erfkit.errors import CheckpointError, DataError
from erfkit.evaluation.measures import boundary_map, f_measure_reference, frame_measures, jaccard
from erfkit.explain.atlas import Atlas
from erfkit.model.checkpoint import read_state_dict

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))
label_maps = shapes.flatmap(lambda s: arrays(np.uint8, s, elements=st.integers(0, 3)))


def pair(max_id: int = 3):
    return shapes.flatmap(lambda s: st.tuples(arrays(np.uint8, s, elements=st.integers(0, max_id)),
                                              arrays(np.uint8, s, elements=st.integers(0, max_id))))


# ------------------------------------------------------------------ mask I/O
@FUZZ
@given(mask=shapes.flatmap(lambda s: arrays(np.uint8, s)))
def test_mask_write_read_round_trip(tmp_path_factory, mask):
    path = tmp_path_factory.mktemp("m") / "a.png"
    path.write_bytes(mask_bytes(mask))
    assert np.array_equal(read_mask(path), mask)
    assert Image.open(path).mode == "P"


@FUZZ
@given(data=st.binary(max_size=400), png_header=st.booleans())
def test_mask_reader_never_crashes_on_garbage(tmp_path_factory, data, png_header):
    path = tmp_path_factory.mktemp("g") / "x.png"
    path.write_bytes((b"\x89PNG\r\n\x1a\n" if png_header else b"") + data)
    try:
        out = read_mask(path)
        assert out.dtype == np.uint8 and out.ndim == 2
    except DataError as e:
        assert "x.png" in str(e)


@FUZZ
@given(mask=shapes.flatmap(lambda s: arrays(np.uint8, s)), cut=st.integers(1, 80))
def test_truncated_masks_never_give_wrong_data(tmp_path_factory, mask, cut):
    """A cut file is refused, or (when only the end marker's bytes are gone) read exactly."""
    data = mask_bytes(mask)
    path = tmp_path_factory.mktemp("t") / "t.png"
    path.write_bytes(data[: max(1, len(data) - cut)])
    try:
        assert np.array_equal(read_mask(path), mask)
    except DataError as e:
        assert "t.png" in str(e)


# ----------------------------------------------------------------- evaluator
@FUZZ
@given(ab=pair())
def test_j_and_f_lie_in_unit_interval_and_are_symmetric(ab):
    a, b = ab
    J1, F1 = frame_measures(a, b, 3)
    J2, F2 = frame_measures(b, a, 3)
    assert ((0 <= J1) & (J1 <= 1)).all() and ((0 <= F1) & (F1 <= 1)).all()
    assert np.allclose(J1, J2) and np.allclose(F1, F2)


@FUZZ
@given(ab=pair())
def test_agrees_with_the_literal_official_algorithm(ab):
    pred, gt = ab
    J, F = frame_measures(pred, gt, 3)
    for k in range(1, 4):
        assert J[k - 1] == pytest.approx(jaccard(pred == k, gt == k))
        assert F[k - 1] == pytest.approx(f_measure_reference(pred == k, gt == k), abs=1e-12)


@FUZZ
@given(m=label_maps)
def test_official_edge_rules(m):
    J, F = frame_measures(m, m, 3)
    assert (J == 1).all() and (F == 1).all()  # identical (also: absent from both -> 1)
    empty = np.zeros_like(m)
    J, F = frame_measures(empty, m, 3)
    present = np.array([(m == k).any() for k in range(1, 4)])
    contour = np.array([boundary_map(m == k).any() for k in range(1, 4)])
    assert (J[present] == 0).all() and (J[~present] == 1).all()  # prediction empty: J 0, or 1 if absent too
    # F: P = 1, R = 0 when the ground truth has a boundary; both boundaries empty -> 1 (even for an object
    # whose only pixel is the bottom-right corner, which the official rule never counts as boundary)
    assert (F[contour] == 0).all() and (F[~contour] == 1).all()


# ------------------------------------------------------------------- readers
@FUZZ
@given(doc=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                        max_leaves=12))
def test_atlas_reader_refuses_any_malformed_index(tmp_path_factory, doc):
    root = tmp_path_factory.mktemp("atlas")
    (root / "index.json").write_text(json.dumps(doc))
    with pytest.raises(DataError):
        Atlas(root)


@FUZZ
@given(data=st.binary(max_size=300))
def test_atlas_frame_garbage_is_a_data_error(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("atlas")
    (root / "frames").mkdir()
    index = {"format": "erfkit-atlas", "version": 1, "frames": ["00000"], "objects": [1], "done": [0],
             "config": {}, "sequence": "s", "checkpoint": {"sha256": "0"}}
    (root / "index.json").write_text(json.dumps(index))
    (root / "frames" / "00000.npz").write_bytes(data)
    (root / "frames" / "00000.metrics.json").write_text("[]")  # a frame is done when both are written
    with pytest.raises(DataError, match="00000.npz"):
        Atlas(root).load(0)


@FUZZ
@given(data=st.binary(max_size=300), zip_header=st.booleans())
def test_checkpoint_reader_refuses_garbage(tmp_path_factory, data, zip_header):
    path = tmp_path_factory.mktemp("ck") / "c.pth"
    path.write_bytes((b"PK\x03\x04" if zip_header else b"") + data)
    with pytest.raises(CheckpointError):
        read_state_dict(path)
