"""The pseudo ground-truth rule: OSVOS's failed masks on dog are left out, real motion is kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from erfkit.data.masks import read_mask, write_mask
from erfkit.evaluation import PSEUDO_TRUTH_RULE, PseudoTruthRule, evaluate_davis, implausible_frames


def _masks(folder: Path) -> list[np.ndarray]:
    return [read_mask(f) for f in sorted(folder.glob("*.png"))]


def test_the_rule_flags_osvos_failures_on_dog_and_keeps_a_car_that_approaches(osvos_masks):
    # the shared data's README names dog 14, 23 and 40-49 as OSVOS failures (83-99 % of the frame)
    assert implausible_frames(_masks(osvos_masks / "dog")) == [14, 23, *range(40, 50)]
    # drift-straight's car grows to 5.8x its median area as it approaches: no frame is dropped
    assert implausible_frames(_masks(osvos_masks / "drift-straight")) == []
    # a stricter ratio would drop that real motion: the bound is what decides
    assert len(implausible_frames(_masks(osvos_masks / "drift-straight"), PseudoTruthRule(max_median_ratio=3))) == 9


def test_the_first_frame_is_never_flagged():
    full = np.ones((4, 4), np.uint8)
    assert PseudoTruthRule().flag([16, 1, 1, 16], 16) == [3]
    assert implausible_frames([full, full * 0, full]) == [2]


def test_evaluate_davis_leaves_the_flagged_frames_out_and_lists_them(tmp_path, osvos_masks):
    root = tmp_path / "DAVIS"
    ann = root / "Annotations" / "480p" / "dog"
    shutil.copytree(osvos_masks / "dog", ann)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("dog\n")
    res = tmp_path / "res" / "dog"
    res.mkdir(parents=True)
    for f in sorted(ann.glob("*.png")):  # predict the first mask everywhere
        write_mask(res / f.name, read_mask(ann / "00000.png"))
    every = evaluate_davis(root, res.parent, progress=False, workers=1)
    ruled = evaluate_davis(root, res.parent, progress=False, workers=1, pseudo_truth=PSEUDO_TRUTH_RULE)
    assert every.left_out() == {}
    assert ruled.left_out() == {"dog": ["00014", "00023", *(f"{i:05d}" for i in range(40, 50))]}
    seq_all, seq_ruled = every.sequences[0], ruled.sequences[0]
    keep = [i for i, f in enumerate(seq_all.frames) if f not in ruled.left_out()["dog"]]
    assert seq_ruled.J[0] == pytest.approx(seq_all.J[0, keep])
    assert ruled.jf > every.jf  # the failed masks covered the frame: copying the dog scored ~0 there
    assert "12 pseudo ground-truth frame(s) left out" in ruled.table()
    # in memory (the experiments, the dashboard): the same frames, the same scores
    from erfkit.data import DavisDataset
    from erfkit.evaluation import score_video

    (root / "JPEGImages" / "480p").mkdir(parents=True)
    shutil.copytree(ann, root / "JPEGImages" / "480p" / "dog")  # frames are not read by the scorer
    video = DavisDataset(root, "val")["dog"]
    in_memory = score_video(video, [read_mask(f) for f in sorted(res.glob("*.png"))], pseudo_truth=PSEUDO_TRUTH_RULE)
    assert in_memory.left_out == seq_ruled.left_out and in_memory.J == pytest.approx(seq_ruled.J)
    (root / "PSEUDO_GROUND_TRUTH").write_text("OSVOS\n")  # a marked root gets the rule by default
    assert evaluate_davis(root, res.parent, progress=False, workers=1).left_out() == ruled.left_out()
