"""`erfkit memory` (temporal attribution, the read at a point) and `erfkit onset` through the real CLI."""

from __future__ import annotations

import json

import pytest

from erfkit.cli import main
from erfkit.data import DavisDataset
from erfkit.model import build_model
from erfkit.model.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def setup(tiny_synth, tmp_path_factory):
    root = tmp_path_factory.mktemp("mem")
    a = save_checkpoint(build_model("stm-tiny", seed=0), root / "A", {"label": "tiny-A"})
    b = save_checkpoint(build_model("stm-tiny", seed=1), root / "B", {"label": "tiny-B"})
    ds = DavisDataset(tiny_synth, "val")
    name = ds.names[0]
    return tiny_synth, a, b, name, sorted(ds[name].object_frames)[0]


def test_memory_writes_shares_effects_and_the_read_at_a_point(setup, tmp_path, capsys):
    data, a, _, name, obj = setup
    assert main(["memory", "--checkpoint", str(a), "--data", str(data), "--sequence", name, "--frame", "6",
                 "--object", str(obj), "--point", "30,50", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "memory unit" in out and "00005" in out
    d = json.loads((tmp_path / "memory.json").read_text())
    assert d["memory_frames"] == [0, 5] and abs(sum(d["share"]) - 1) < 1e-5 and abs(sum(d["point_mass"]) - 1) < 1e-5
    assert d["point"] == [30, 50] and (tmp_path / "memory.png").stat().st_size > 1000
    assert (tmp_path / "memory.pdf").is_file()


@pytest.mark.parametrize("args, fragment", [(["--point", "999,3"], "outside the"),
                                            (["--object", "77"], "object 77 is not in"),
                                            (["--frame", "0"], "outside 1..")])
def test_memory_bad_input_is_one_line(setup, capsys, args, fragment):
    data, a, _, name, obj = setup
    base = {"--frame": "3", "--object": str(obj)}
    base.update(dict(zip(args[::2], args[1::2])))
    extra = [x for k, v in base.items() for x in (k, v)]
    assert main(["memory", "--checkpoint", str(a), "--data", str(data), "--sequence", name, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("erfkit: error: ") and fragment in err[-1] and "Traceback" not in "\n".join(err)


def test_onset_of_two_checkpoints(setup, tmp_path, capsys):
    data, a, b, name, obj = setup
    assert main(["onset", "--checkpoint", str(a), "--checkpoint", str(b), "--data", str(data), "--sequence", name,
                 "--object", str(obj), "--threshold", "0.9", "--out", str(tmp_path)]) == 0
    d = json.loads((tmp_path / "onset.json").read_text())
    assert d["signal"] == "J" and set(d["onset"]) == {"tiny-A", "tiny-B"} and len(d["agreement"]) == 8
    # untrained models fail at once: J falls below 0.9 at the first predicted frame
    assert d["onset"]["tiny-A"] == 1 and (tmp_path / "onset.png").is_file()
    assert "onset at frame 00001" in capsys.readouterr().out
