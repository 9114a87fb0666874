"""Every rule of the official DAVIS 2017 protocol, pinned with small hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from erfkit.data import write_mask
from erfkit.errors import DataError
from erfkit.evaluation import db_statistics, evaluate_davis, frame_measures, score_sequence
from erfkit.evaluation.measures import bound_radius, boundary_map, f_measure_reference, jaccard


def box(shape, y0, y1, x0, x1, k=1):
    m = np.zeros(shape, np.uint8)
    m[y0:y1, x0:x1] = k
    return m


# ------------------------------------------------------------------------ J
def test_jaccard_is_iou_and_one_when_both_empty():
    a = box((10, 10), 0, 4, 0, 5).astype(bool)
    b = box((10, 10), 2, 6, 0, 5).astype(bool)
    assert jaccard(a, b) == pytest.approx(10 / 30)
    empty = np.zeros((10, 10), bool)
    assert jaccard(empty, empty) == 1.0
    assert jaccard(a, empty) == 0.0


# ------------------------------------------------------------------------ F
def test_tolerance_is_0008_of_the_diagonal():
    assert bound_radius((480, 854)) == 8
    assert bound_radius((480, 910)) == 9
    assert bound_radius((480, 1152)) == 10
    assert bound_radius((100, 100)) == 2


def test_boundary_rule_east_south_southeast_and_the_edges():
    m = np.zeros((4, 5), bool)
    m[1:3, 1:3] = True
    expected = np.array([
        [1, 1, 1, 0, 0],  # above-left neighbours see the object to the south / south-east
        [1, 0, 1, 0, 0],
        [1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0],
    ], bool)
    assert np.array_equal(boundary_map(m), expected)
    # last row: only the east neighbour; last column: only the south one; corner never
    full = np.ones((3, 3), bool)
    assert not boundary_map(full).any()
    edge = np.zeros((3, 3), bool)
    edge[2, 0] = True  # bottom-left pixel: differs from its east neighbour
    assert boundary_map(edge)[2, 0]
    corner = np.zeros((3, 3), bool)
    corner[2, 2] = True
    b = boundary_map(corner)
    assert not b[2, 2]  # the bottom-right pixel is never boundary
    assert b[2, 1] and b[1, 2]


@pytest.mark.parametrize("dy,dx,matched", [(0, 8, True), (8, 0, True), (5, 6, True), (6, 6, False),
                                           (4, 7, False), (0, 9, False)])
def test_boundary_matching_uses_the_disk(dy, dx, matched):
    """A single-pixel object vs its copy moved by (dy, dx) at 480x854 (r = 8): matched iff dy^2+dx^2 <= 64."""
    gt = np.zeros((480, 854), np.uint8)
    gt[200, 300] = 1
    pred = np.zeros_like(gt)
    pred[200 + dy, 300 + dx] = 1
    _, F = frame_measures(pred, gt, 1)
    assert (F[0] == 1.0) == matched
    assert F[0] == pytest.approx(f_measure_reference(pred == 1, gt == 1))


def test_empty_boundary_cases():
    shape = (30, 40)
    obj = box(shape, 5, 15, 5, 20)
    none = np.zeros(shape, np.uint8)
    _, F = frame_measures(none, none, 1)
    assert F[0] == 1.0  # both empty: P = R = 1
    _, F = frame_measures(none, obj, 1)
    assert F[0] == 0.0  # prediction empty: P = 1, R = 0
    _, F = frame_measures(obj, none, 1)
    assert F[0] == 0.0  # ground truth empty: P = 0, R = 1


def test_border_pixels_follow_the_toolkit():
    """Objects touching the last row and column, compared with the literal algorithm."""
    rng = np.random.default_rng(4)
    for _ in range(50):
        H, W = rng.integers(3, 30, size=2)
        gt = (rng.random((H, W)) < 0.5).astype(np.uint8)
        pred = (rng.random((H, W)) < 0.5).astype(np.uint8)
        gt[-1, :] = 1
        pred[:, -1] = 1
        J, F = frame_measures(pred, gt, 1)
        assert F[0] == pytest.approx(f_measure_reference(pred == 1, gt == 1), abs=1e-12)
        assert J[0] == pytest.approx(jaccard(pred == 1, gt == 1))


# -------------------------------------------------------------- statistics
def test_decay_bins_share_their_border_frames():
    v = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    mean, recall, decay = db_statistics(v)
    # ids = round(linspace(1, 10, 5) + 1e-10) - 1 = [0, 2, 5, 7, 9]; bins v[0:3] and v[7:10]
    assert mean == pytest.approx(0.55)
    assert recall == pytest.approx(0.5)  # 1.0 .. 0.6; the value 0.5 itself does not count
    assert decay == pytest.approx(np.mean(v[0:3]) - np.mean(v[7:10]))
    short = np.array([0.2, 0.8])
    assert db_statistics(short)[2] == pytest.approx(0.2 - 0.8)  # bins [v0:v1], [v0:v1], [v0:v2], [v1:v2]
    assert db_statistics(np.array([0.7]))[2] == 0.0


# ---------------------------------------------------------------- protocol
def test_object_count_is_the_largest_id_of_the_first_frame():
    shape = (20, 30)
    first = box(shape, 2, 8, 2, 8, k=3)  # ids 1 and 2 absent, still objects
    gts = [first, first, first, first]
    preds = [None, first, first, None]
    s = score_sequence(gts, preds)
    assert s.num_objects == 3
    assert np.all(s.J[:2] == 1.0) and np.all(s.F[:2] == 1.0)  # absent from both: perfect
    assert np.all(s.J[2] == 1.0)


def test_object_absent_from_first_frame_but_present_later():
    shape = (20, 30)
    f0 = box(shape, 2, 8, 2, 8, k=2)
    later = f0.copy()
    later[12:18, 20:28] = 1  # object 1 appears later
    late7 = later.copy()
    late7[0:2, 0:2] = 7  # an id above the count appearing later is not an object
    s = score_sequence([f0, later, late7, later], [None, f0, f0, None])
    assert s.num_objects == 2
    assert list(s.J[0]) == [0.0, 0.0]  # object 1 missed where it is present
    assert list(s.J[1]) == [1.0, 1.0]


def test_first_and_last_frames_are_excluded():
    shape = (20, 30)
    gt = box(shape, 2, 10, 2, 10)
    wrong = box(shape, 12, 19, 15, 29)
    s = score_sequence([gt, gt, gt], [wrong, gt, wrong])
    assert s.frames == ["00001"] and s.J.shape == (1, 1) and s.J[0, 0] == 1.0


def test_void_counts_as_background():
    shape = (20, 30)
    gt = box(shape, 2, 10, 2, 10)
    gt_void = gt.copy()
    gt_void[10:14, 2:10] = 255
    pred = box(shape, 2, 14, 2, 10)  # covers the void band
    s = score_sequence([gt, gt_void, gt], [None, pred, None])
    assert s.J[0, 0] == pytest.approx(64 / 96)  # the void pixels are false positives, not ignored


def test_global_means_are_over_objects_not_sequences(tmp_path):
    shape = (20, 30)
    root, res = tmp_path / "data", tmp_path / "res"
    seqs = {"one": 1, "three": 3}
    for name, K in seqs.items():
        for t in range(4):
            gt = np.zeros(shape, np.uint8)
            for k in range(1, K + 1):
                gt[2 + 5 * (k - 1): 5 + 5 * (k - 1), 2:10] = k
            write_mask(root / "Annotations" / "480p" / name / f"{t:05d}.png", gt)
            pred = gt if name == "three" else np.zeros_like(gt)
            write_mask(res / name / f"{t:05d}.png", pred)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("one\nthree\n")
    r = evaluate_davis(root, res, "val", workers=1, progress=False)
    g = r.global_scores()
    assert g["J-Mean"] == pytest.approx(3 / 4)  # 4 objects: 0, 1, 1, 1 (per sequence it would be 0.5)
    assert g["J&F-Mean"] == pytest.approx((g["J-Mean"] + g["F-Mean"]) / 2)
    gpath, spath = r.write_csv(res)
    assert gpath.read_text().splitlines() == [
        "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay",
        "0.750,0.750,0.750,0.000,0.750,0.750,0.000",
    ]
    assert spath.read_text().splitlines() == [
        "Sequence,J-Mean,F-Mean", "one_1,0.000,0.000", "three_1,1.000,1.000", "three_2,1.000,1.000",
        "three_3,1.000,1.000",
    ]
    assert gpath.name == "global_results-val.csv" and spath.name == "per-sequence_results-val.csv"


# ------------------------------------------------------------------ errors
def _one_seq(tmp_path, n=4, shape=(20, 30)):
    root, res = tmp_path / "data", tmp_path / "res"
    for t in range(n):
        write_mask(root / "Annotations" / "480p" / "s" / f"{t:05d}.png", box(shape, 2, 8, 2, 8))
        write_mask(res / "s" / f"{t:05d}.png", box(shape, 2, 8, 2, 8))
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("s\n")
    return root, res


def test_id_above_the_object_count_is_an_error(tmp_path):
    root, res = _one_seq(tmp_path)
    write_mask(res / "s" / "00002.png", box((20, 30), 2, 8, 2, 8, k=2))
    with pytest.raises(DataError, match="object id 2 but the sequence has 1") as e:
        evaluate_davis(root, res, workers=1, progress=False)
    assert "00002.png" in str(e.value)


def test_missing_result_frame_is_an_error(tmp_path):
    root, res = _one_seq(tmp_path)
    (res / "s" / "00001.png").unlink()
    with pytest.raises(DataError, match="missing result frame") as e:
        evaluate_davis(root, res, workers=2, progress=False)
    assert "00001.png" in str(e.value)
    (res / "s" / "00000.png").unlink()  # the first frame is not needed
    write_mask(res / "s" / "00001.png", box((20, 30), 2, 8, 2, 8))
    evaluate_davis(root, res, workers=1, progress=False)


def test_size_mismatch_is_an_error(tmp_path):
    root, res = _one_seq(tmp_path)
    write_mask(res / "s" / "00001.png", np.zeros((21, 30), np.uint8))
    with pytest.raises(DataError, match="30x21 but the ground truth is 30x20") as e:
        evaluate_davis(root, res, workers=1, progress=False)
    assert "00001.png" in str(e.value)


def test_too_short_sequences_are_an_error(tmp_path):
    root, res = _one_seq(tmp_path, n=2)
    with pytest.raises(DataError, match="at least 3"):
        evaluate_davis(root, res, workers=1, progress=False)


def test_missing_sequence_results(tmp_path):
    root, res = _one_seq(tmp_path)
    import shutil

    shutil.rmtree(res / "s")
    with pytest.raises(DataError, match="no results for sequence 's'"):
        evaluate_davis(root, res, workers=1, progress=False)
