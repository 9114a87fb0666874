"""``erfkit segment`` at the checkpoint's input size: 480p videos score as the same videos at 240x427.

The shipped checkpoints were trained on 240x427 synthetic videos.  The same
synthetic videos rendered at 480x854 (the generator draws the same scene at any
size) run at the default size, letterboxed to 240x427, and must score within
0.03 J&F of the 240x427 rendering; the masks are written at 480x854.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from erfkit.cli import main
from erfkit.data.synth import SynthConfig, make_synth

CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "stm-tiny-cyclic"


def _jf(out: Path) -> float:
    with open(out / "global_results-val.csv", newline="") as f:
        return float(next(csv.DictReader(f))["J&F-Mean"])


@pytest.mark.slow
def test_480p_at_the_default_size_scores_as_240x427(tmp_path):
    small = SynthConfig(train_videos=0, val_videos=4, frames=12)
    big = dataclasses.replace(small, height=480, width=854)
    d240 = make_synth(tmp_path / "s240", small, progress=False, workers=1)
    d480 = make_synth(tmp_path / "s480", big, progress=False, workers=1)
    args = ["segment", "--checkpoint", str(CHECKPOINT), "--eval"]
    assert main([*args, "--data", str(d240), "--out", str(tmp_path / "r240")]) == 0
    assert main([*args, "--data", str(d480), "--out", str(tmp_path / "r480")]) == 0
    jf240, jf480 = _jf(tmp_path / "r240"), _jf(tmp_path / "r480")
    assert abs(jf480 - jf240) <= 0.03, (jf240, jf480)
    mask = next((tmp_path / "r480").glob("*/*.png"))
    assert np.asarray(Image.open(mask)).shape == (480, 854)


def test_info_shows_the_input_size(capsys):
    assert main(["info", str(CHECKPOINT)]) == 0
    assert "input size 240x427" in capsys.readouterr().out


def test_a_bad_size_is_one_line(tmp_path, capsys):
    assert main(["segment", "--checkpoint", str(CHECKPOINT), "--frames", str(tmp_path), "--mask", "m.png",
                 "--out", str(tmp_path / "o"), "--size", "big"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "big" in err[0]
