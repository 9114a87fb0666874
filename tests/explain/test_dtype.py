"""`--dtype bfloat16`: explanations under bfloat16 autocast, close to float32, and a setting of their own."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from erfkit.cli import main
from erfkit.data import DavisDataset
from erfkit.explain import AtlasConfig, build_atlas
from erfkit.explain.atlas import settings_of


@pytest.fixture(scope="module")
def atlases(tiny_synth, tiny_model, tmp_path_factory):
    ds = DavisDataset(tiny_synth, "val")
    seq = ds[ds.names[0]]
    root = tmp_path_factory.mktemp("dtype")
    out = {}
    for dtype in ("float32", "bfloat16"):
        cfg = AtlasConfig(methods=("cycle", "classic"), steps=5, metrics_every=0, sanity_every=0, dtype=dtype)
        out[dtype] = build_atlas(tiny_model, seq, root / dtype, cfg, frames=[1, 2], progress=False)
    return out, seq, root


def test_bfloat16_maps_follow_float32(atlases):
    out, _, _ = atlases
    for key, least in (("erf_memory", 0.8), ("erf_query", 0.8), ("cycle", 0.3)):
        for i in (1, 2):
            a = out["float32"].load(i, [key])[key].astype(np.float64)
            b = out["bfloat16"].load(i, [key])[key].astype(np.float64)
            assert np.isfinite(b).all() and not np.array_equal(a, b)  # computed in another precision
            assert spearmanr(a[0].ravel(), b[0].ravel())[0] > least, key


def test_dtype_is_a_setting(atlases, tiny_model):
    out, seq, root = atlases
    assert out["bfloat16"].config.dtype == "bfloat16"
    cfg = AtlasConfig(methods=("cycle", "classic"), steps=5, metrics_every=0, sanity_every=0)
    with pytest.raises(Exception, match="other settings"):  # float32 maps do not complete a bfloat16 atlas
        build_atlas(tiny_model, seq, root / "bfloat16", cfg, frames=[3], progress=False)
    stored = cfg.to_dict()
    stored.pop("dtype")  # an atlas written before dtype existed is float32
    assert settings_of(stored) == settings_of(cfg.to_dict())
    with pytest.raises(Exception, match="dtype must be one of"):
        AtlasConfig(dtype="float16")


def test_cli_dtype(tiny_synth, tmp_path, capsys):
    from erfkit.model import build_model
    from erfkit.model.checkpoint import save_checkpoint

    ckpt = save_checkpoint(build_model("stm-tiny", seed=0), tmp_path / "c")
    name = DavisDataset(tiny_synth, "val").names[0]
    args = ["erf", "--checkpoint", str(ckpt), "--data", str(tiny_synth), "--sequence", name, "--methods", "cycle",
            "--steps", "2", "--frames", "1", "--metrics-every", "0", "--sanity-every", "0", "--out",
            str(tmp_path / "a")]
    assert main([*args, "--dtype", "bfloat16"]) == 0
    assert main([*args, "--dtype", "float32"]) == 2  # another setting: refused, nothing lost
    assert "other settings" in capsys.readouterr().err.strip().splitlines()[-1]
