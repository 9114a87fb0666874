"""`--batch auto`: the cycle-ERF batch is sized to the memory, from a count of what autograd keeps per frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from erfkit.cli import main
from erfkit.data import DavisDataset
from erfkit.explain import AtlasConfig, build_atlas
from erfkit.explain.atlas import Atlas
from erfkit.explain.batching import plan_batch, saved_bytes
from erfkit.explain.cycle import CycleERFConfig


@pytest.fixture(scope="module")
def video(tiny_synth):
    ds = DavisDataset(tiny_synth, "val")
    return ds[ds.names[0]]


def test_saved_bytes_counts_what_autograd_keeps():
    x = torch.randn(256, 256, requires_grad=True)
    w = torch.randn(256, 256)
    # x @ w saves w (for dx); tanh saves its output: two 256x256 float32 tensors
    assert saved_bytes(lambda: torch.tanh(x @ w).sum()) == 2 * 256 * 256 * 4
    assert saved_bytes(lambda: (x * 2).sum()) == 0  # a product by a number keeps nothing


def test_the_batch_grows_with_the_budget_and_fits_it(tiny_model, video):
    cycle = CycleERFConfig(steps=2)
    small = plan_batch(tiny_model, video, 0, cycle, size=None, budget=1)
    assert small.batch_size == 1  # nothing fits: one frame at a time
    per = small.per_frame
    assert per > 0 and small.fixed >= 0
    fits3 = plan_batch(tiny_model, video, 0, cycle, size=None, budget=int(2.0 * (small.fixed + 3 * per)) + 1)
    assert fits3.batch_size == 3 and fits3.per_frame == per  # the count is exact: the same every time
    big = plan_batch(tiny_model, video, 0, cycle, size=None, budget=1 << 40)
    assert big.batch_size == len(video)  # at most the video's frames
    larger = plan_batch(tiny_model, video, 0, cycle, size=(128, 224), budget=1)
    assert larger.per_frame > 3 * per  # four times the pixels


def test_auto_batches_give_the_maps_of_fixed_batches(tiny_model, video, tmp_path):
    cfg = AtlasConfig(methods=("cycle",), steps=2, metrics_every=0, sanity_every=0, batch_size=2)
    fixed = build_atlas(tiny_model, video, tmp_path / "fixed", cfg, progress=False)
    auto = build_atlas(tiny_model, video, tmp_path / "auto", AtlasConfig(**{**cfg.to_dict(), "batch_size": "auto"}),
                       progress=False)
    assert auto.config.batch_size == "auto" and auto.done == fixed.done
    for i in sorted(fixed.done):
        np.testing.assert_allclose(auto.load(i)["cycle"], fixed.load(i)["cycle"], rtol=1e-4, atol=1e-6)
    # the batch size does not change the maps: completing the atlas with another one is allowed
    again = build_atlas(tiny_model, video, tmp_path / "auto", cfg, progress=False)
    assert isinstance(again, Atlas) and again.done == fixed.done


def test_cli_batch_auto_and_bad_values(tiny_synth, tmp_path, capsys):
    from erfkit.model import build_model
    from erfkit.model.checkpoint import save_checkpoint

    ckpt = save_checkpoint(build_model("stm-tiny", seed=0), tmp_path / "c")
    ds = DavisDataset(tiny_synth, "val")
    common = ["erf", "--checkpoint", str(ckpt), "--data", str(tiny_synth), "--methods", "cycle", "--steps", "1",
              "--metrics-every", "0", "--sanity-every", "0"]
    assert main([*common, "--sequences", ds.names[0], "--batch", "auto", "--out", str(tmp_path / "store")]) == 0
    assert (tmp_path / "store" / "metrics.csv").is_file()
    assert main([*common, "--sequence", ds.names[0], "--batch", "many", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("erfkit: error: ") and "--batch must be a whole number or 'auto'" in err
    with pytest.raises(Exception, match="batch size must be"):
        AtlasConfig(batch_size=0)
