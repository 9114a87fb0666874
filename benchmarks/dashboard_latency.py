"""Dashboard responsiveness: stored frames from an atlas, and new frames of a real 480p video.

1. Synthetic, stored: atlases of one validation video (12 frames, cycle-ERF +
   classic ERF + saliency) are built for the two shipped checkpoints with
   `erfkit erf`; the app then runs headless (Streamlit's AppTest) reading them,
   and each move of the frame slider is timed (the script's full re-run).
   Target: median under 300 ms.
2. Real frames (DAVIS 2017 val `dog`, 480x854, linked from ../shared): with each
   pair of checkpoints (the sprite pair stm-tiny, then the default pair stm-lite0)
   at their 240x427 (stm-tiny) or 192x320 (stm-lite0) input, the computing behind the page
   (:class:`erfkit.dashboard.Comparison`), timed per step: opening the video
   (each checkpoint segments it once), then for new frames the first panel
   (both masks), the method shown large (cycle-ERF A | B | A - B), and every
   panel; then frames computed ahead by the background worker, and stored
   frames through the page (AppTest).  Targets: a new frame under 15 s, a
   stored frame under 1 s.  Before this page, nothing was shown until every
   map of the frame was done: the time to the first panel was the "all
   panels" time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from erfkit.cli import main as cli
from erfkit.dashboard import APP, DashboardSettings

from .common import ROOT, save, synth_data

FRAMES = 12  # moved between; two more are stored, so the frames the page computes ahead are stored too
#: the pairs timed on real frames
PAIRS = {"stm-tiny": ("stm-tiny-baseline", "stm-tiny-cyclic"), "stm-lite0": ("stm-lite0-baseline", "stm-lite0-cyclic")}


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    argv = list(sys.argv)  # the page's runs below replace it with the dashboard's settings
    result = synthetic_atlas()
    result["real"] = real_frames(PAIRS["stm-tiny"])
    result["real_lite0"] = real_frames(PAIRS["stm-lite0"])
    sys.argv = argv
    save("dashboard_latency", result)


def real_frames(pair: tuple[str, str], frames: int = 16, new: tuple[int, ...] = (6, 10, 14),
                stored: tuple[int, ...] = (6, 10, 14)) -> dict:
    """Timings of the page's steps on the first ``frames`` frames of the real video ``dog`` with the
    checkpoints ``pair`` (names under checkpoints/)."""
    from streamlit.testing.v1 import AppTest

    from erfkit.dashboard import Comparison, Display, ViewSettings, Worker
    from erfkit.explain.keys import CYCLE
    from tests.real_data import link_davis_subset

    shared = ROOT.parent / "shared" / "data" / "davis2017-val-real-frames"
    ckpts = tuple(str(ROOT / "checkpoints" / n) for n in pair)
    view, display = ViewSettings(), Display(clip=99.0)
    out: dict = {"sequence": "dog", "frames": frames, "checkpoints": list(pair), "new": [],
                 "ahead": [], "stored_page_seconds": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = link_davis_subset(shared, Path(tmp) / "DAVIS", "dog", frames)
        settings = DashboardSettings(data=str(root), split="val", checkpoints=ckpts, cache=str(Path(tmp) / "cache"))
        t0 = time.perf_counter()
        cmp = Comparison.open(settings, "dog")
        out["size"] = f"{cmp.stores[0].size(view)} (the checkpoints')"
        cmp.summary(view)
        out["open_seconds"] = time.perf_counter() - t0
        obj = cmp.objects[0]
        keys = cmp.keys(view, "memory")
        for t in new:
            t0 = time.perf_counter()
            cmp.mask_panels(t, obj, view)
            first = time.perf_counter() - t0
            cmp.method_panels(t, obj, CYCLE, view, display)
            big = time.perf_counter() - t0
            for key in keys[1:]:
                cmp.method_panels(t, obj, key, view, display)
            out["new"].append({"frame": t, "first_panel": first, "large_method": big,
                               "all_panels": time.perf_counter() - t0,
                               "floor": cycle_floor(cmp, t, view)})
        worker = Worker(cmp)
        for t in new:  # what the page asks for after showing t: its next frame, computed in the background
            worker.prefetch([t + 1], [CYCLE, *keys[1:]], view)
            assert worker.wait(600)
            t0 = time.perf_counter()
            cmp.frame_view(t + 1, obj, view, "memory", display)
            out["ahead"].append({"frame": t + 1, "view_seconds": time.perf_counter() - t0})
        # the page's first view (frame 1) and the neighbours it asks for around each stored frame are stored
        # too, so no background work runs during the timed moves
        around = {0, 1, 2, 3} | {f for t in stored for f in (t - 1, t, t + 1, t + 2) if f < frames}
        cmp.compute_frames(sorted(around), view, "memory")
        sys.argv = [str(APP), *settings.to_argv()]
        at = AppTest.from_file(str(APP), default_timeout=600)
        at.run()
        assert not at.exception, at.exception
        for t in stored:
            t0 = time.perf_counter()
            at.slider(key="frame").set_value(t).run()
            out["stored_page_seconds"].append(time.perf_counter() - t0)
            assert not at.exception, at.exception
    out["new_median"] = statistics.median(r["all_panels"] for r in out["new"])
    out["stored_median"] = statistics.median(out["stored_page_seconds"])
    return out


def cycle_floor(cmp, frame: int, view) -> float:
    """The unavoidable part of a new frame: cycle-ERF's M forward and backward passes of the memory path for
    both checkpoints, alone (what :mod:`benchmarks.erf_throughput` calls the floor)."""
    import torch

    from erfkit.data.letterbox import Letterbox, parse_size
    from erfkit.explain.cycle import CycleERFConfig
    from erfkit.tensors import frame_tensor, onehot

    from .erf_throughput import floor_seconds

    video, total = cmp.video, 0.0
    for store in cmp.stores:
        box = Letterbox.fit(video.size, parse_size(store.size(view)))
        x = box.image(frame_tensor(video.read_frame(frame), torch.device("cpu")))
        x_t = box.image(frame_tensor(video.read_frame(view.target), torch.device("cpu")))
        y_t = box.mask(onehot(video.prompt(view.target), sorted(video.object_frames), torch.device("cpu")))
        total += floor_seconds(store.model, x, x_t, y_t, CycleERFConfig(steps=view.steps, batch_size=1))
    return total


def synthetic_atlas() -> dict:
    """Moves between stored frames of a synthetic video (atlases of both shipped checkpoints)."""
    from streamlit.testing.v1 import AppTest

    data = synth_data()
    names = (data / "ImageSets" / "2017" / "val.txt").read_text().split()
    seq = next(n for n in names if "distractor" in n)
    ckpts = [ROOT / "checkpoints" / n for n in ("stm-tiny-baseline", "stm-tiny-cyclic")]
    with tempfile.TemporaryDirectory() as tmp:
        atlas = Path(tmp) / "atlas"
        t0 = time.perf_counter()
        for c in ckpts:
            assert cli(["erf", "--checkpoint", str(c), "--data", str(data), "--sequence", seq, "--out",
                        str(atlas / c.name), "--frames", f"0-{FRAMES + 1}", "--metrics-every", "0",
                        "--sanity-every", "0"]) == 0
        build = time.perf_counter() - t0
        settings = DashboardSettings(data=str(data), split="val", checkpoints=tuple(map(str, ckpts)),
                                     atlas=(str(atlas),), cache=str(Path(tmp) / "cache"))
        sys.argv = [str(APP), *settings.to_argv()]  # what `erfkit dashboard` passes the page
        at = AppTest.from_file(str(APP), default_timeout=600)
        at.run()
        at.selectbox(key="sequence").set_value(seq).run()
        assert not at.exception, at.exception
        times = []
        for frame in [1, 5, 2, 9, 11, 3, 7, 0, 10, 4, 8, 6]:
            t0 = time.perf_counter()
            at.slider(key="frame").set_value(frame).run()
            times.append(time.perf_counter() - t0)
            assert not at.exception, at.exception
        assert not list((Path(tmp) / "cache").rglob("frames/*.npz")), "maps were computed, not read from the atlas"
    return {"sequence": seq, "atlas_frames": FRAMES + 2, "atlas_build_seconds": build, "move_seconds": times,
            "median_ms": 1000 * statistics.median(times)}


if __name__ == "__main__":
    main()
