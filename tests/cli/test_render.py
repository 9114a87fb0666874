"""`erfkit render`: an atlas as a GIF (one frame per atlas frame) and an MP4."""

from __future__ import annotations

import json

import av
import pytest
from PIL import Image

from erfkit.cli import main
from erfkit.data import DavisDataset
from erfkit.explain import AtlasConfig, build_atlas


@pytest.fixture(scope="module")
def atlas(tiny_synth, tiny_model, tmp_path_factory):
    ds = DavisDataset(tiny_synth, "val")
    cfg = AtlasConfig(methods=("cycle", "classic"), steps=2, metrics_every=0, sanity_every=0)
    return build_atlas(tiny_model, ds[ds.names[0]], tmp_path_factory.mktemp("render") / "a", cfg,
                       frames=range(6), progress=False)


def test_gif_has_one_frame_per_atlas_frame(atlas, tmp_path, capsys):
    out = tmp_path / "a.gif"
    assert main(["render", str(atlas.path), "--out", str(out)]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == len(atlas.done) == 6
        w, h = gif.size
    assert h == 64 and w > 112  # the frame, then the colour bar
    assert capsys.readouterr().out.strip() == str(out)


def test_mp4_of_another_map_and_object(atlas, tmp_path):
    out = tmp_path / "a.mp4"
    obj = atlas.objects[-1]
    assert main(["render", str(atlas.path), "--out", str(out), "--method", "erf_memory", "--object", str(obj),
                 "--fps", "5"]) == 0
    with av.open(str(out)) as video:
        frames = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    assert len(frames) == 6 and frames[0].shape[0] == 64 and frames[0].std() > 1  # not blank


@pytest.mark.parametrize("args, fragment", [(["--method", "saliency_saliency_query"], "holds no saliency"),
                                            (["--object", "77"], "object 77 is not in the atlas"),
                                            (["--out-suffix", ".avi"], "write a .gif or an .mp4")])
def test_bad_input_is_one_line_and_writes_nothing(atlas, tmp_path, capsys, args, fragment):
    suffix = args[1] if args[0] == "--out-suffix" else ".gif"
    out = tmp_path / f"x{suffix}"
    extra = [] if args[0] == "--out-suffix" else args
    assert main(["render", str(atlas.path), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("erfkit: error: ") and fragment in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_frames_folder_is_recorded_or_given(atlas, tmp_path, capsys):
    index = json.loads((atlas.path / "index.json").read_text())
    frames = index.pop("frames_dir")
    (atlas.path / "index.json").write_text(json.dumps(index))  # as an atlas built before it was recorded
    try:
        assert main(["render", str(atlas.path), "--out", str(tmp_path / "a.gif")]) == 2
        assert "(see --frames)" in capsys.readouterr().err
        assert main(["render", str(atlas.path), "--out", str(tmp_path / "a.gif"), "--frames", frames]) == 0
    finally:
        index["frames_dir"] = frames
        (atlas.path / "index.json").write_text(json.dumps(index))


def test_an_atlas_without_stored_predictions_is_one_line(atlas, tmp_path, capsys):
    import shutil

    import numpy as np

    copy = tmp_path / "atlas"
    shutil.copytree(atlas.path, copy)
    frame = sorted(copy.glob("frames/*.npz"))[2]
    with np.load(frame) as z:
        kept = {k: z[k] for k in z.files if k != "pred"}
    np.savez_compressed(frame, **kept)  # as an atlas written before predictions were stored
    out = tmp_path / "x.gif"
    assert main(["render", str(copy), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("erfkit: error: ") and "holds no stored prediction" in err and frame.name in err
    assert not out.exists()
