"""Dashboard responsiveness: stored frames from an atlas, and a full real 480p video opened anew.

1. Synthetic, stored: atlases of one validation video (12 frames, cycle-ERF +
   classic ERF + saliency) are built for the two shipped checkpoints with
   `erfkit erf`; the app then runs headless (Streamlit's AppTest) reading them,
   and each move of the frame slider is timed (the script's full re-run).
   Target: median under 300 ms.
2. Real frames (DAVIS 2017 val `dog`, all 60 frames, 480x854, linked from
   ../shared), with each pair of checkpoints (the sprite pair stm-tiny, then the
   default pair stm-lite0) at their input size, nothing stored:
   - in Chromium (the page as a user gets it, `erfkit dashboard` started
     fresh): the first view (both masks of frame 1 and the method shown large,
     cycle-ERF A | B | A - B), then the next frame (arrow key) before the
     background worker could compute it. Targets: 20 s and 10 s.
   - the computing behind the page (:class:`erfkit.dashboard.Comparison`), per
     step: the first view, the rest of the segmentation (done by the worker
     after the first view; J&F and the timeline wait for it), new frames (first
     panel, method shown large, every panel, and the floor: cycle-ERF's M
     passes alone), a change of the saliency method (which maps it recomputes,
     and how long), a frame computed ahead by the worker, and stored frames
     through the page (AppTest; target under 1 s).
   Everything in 2 runs twice: on the quiet machine, then with one core busy
   (a second process spinning).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from erfkit.cli import main as cli
from erfkit.dashboard import APP, DashboardSettings

from .common import ROOT, command_line, previous, save, synth_data

FRAMES = 12  # moved between; two more are stored, so the frames the page computes ahead are stored too
#: the pairs timed on real frames
PAIRS = {"stm-tiny": ("stm-tiny-baseline", "stm-tiny-cyclic"), "stm-lite0": ("stm-lite0-baseline", "stm-lite0-cyclic")}
SEQUENCE = "dog"
LOADS = ("quiet", "one core busy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="synthetic,real", help="synthetic, real or both; a part not run keeps "
                        "its results (and their command and date) from the last run")
    parts = parser.parse_args().parts.split(",")
    argv = list(sys.argv)  # the page's runs below replace it with the dashboard's settings
    result = previous("dashboard_latency")
    stamp = {"command": command_line("dashboard_latency"), "date": datetime.date.today().isoformat()}
    if "synthetic" in parts:
        result.update(synthetic_atlas(), synthetic_run=stamp)
    if "real" in parts:
        result["real_video"] = {load: {name: {"browser": browser_view(pair, load != "quiet"),
                                              "steps": real_frames(pair, load != "quiet")}
                                       for name, pair in PAIRS.items()} for load in LOADS}
        result["real_run"] = stamp
    sys.argv = argv
    save("dashboard_latency", result)


@contextlib.contextmanager
def load(busy: bool):
    """With ``busy``: a second process spins on one core while the block runs."""
    if not busy:
        yield
        return
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        yield
    finally:
        spin.kill()
        spin.wait()


@contextlib.contextmanager
def real_root():
    """A DAVIS root of the whole real video (its first-frame mask only), and a scratch folder."""
    from tests.real_data import link_davis_subset

    shared = ROOT.parent / "shared" / "data" / "davis2017-val-real-frames"
    frames = len(list((shared / "JPEGImages" / "480p" / SEQUENCE).glob("*.jpg")))
    with tempfile.TemporaryDirectory() as tmp:
        yield link_davis_subset(shared, Path(tmp) / "DAVIS", SEQUENCE, frames), Path(tmp), frames


def browser_view(pair: tuple[str, str], busy: bool) -> dict:
    """Seconds from opening the page (a fresh server, nothing stored) to the first view in Chromium, and from
    the arrow key to the next frame's masks and large panels."""
    from tests.dashboard.test_browser import _wait_until_idle, chromium_page, dashboard_server

    shown = """(f) => {
      const caps = [...document.querySelectorAll('[data-testid="stImageCaption"]')].map(e => e.textContent);
      return caps.some(c => c.startsWith('A: ') && c.includes('frame ' + f))
          && caps.some(c => c.startsWith('B: ') && c.includes('frame ' + f))
          && caps.includes('A - B: cycle-ERF') && !document.body.innerText.includes('computing ...');
    }"""
    ckpts = tuple(str(ROOT / "checkpoints" / n) for n in pair)
    with real_root() as (root, tmp, frames), load(busy):
        settings = DashboardSettings(data=str(root), split="val", checkpoints=ckpts, cache=str(tmp / "cache"))
        with dashboard_server(settings, tmp / "streamlit.log") as url, chromium_page(url, open_url=False) as page:
            t0 = time.perf_counter()
            page.goto(url)
            page.wait_for_function(shown, arg="00001", timeout=600_000)
            first = time.perf_counter() - t0
            _wait_until_idle(page, 600_000)  # the page's run is over; the worker segments the rest of the video
            page.locator("h1").first.click()
            t0 = time.perf_counter()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(shown, arg="00002", timeout=600_000)
            new = time.perf_counter() - t0
            _wait_until_idle(page, 600_000)
            all_panels = time.perf_counter() - t0
    return {"frames": frames, "first_view": first, "new_frame": new, "new_frame_all_panels": all_panels}


def real_frames(pair: tuple[str, str], busy: bool, new: tuple[int, ...] = (10, 30),
                stored: tuple[int, ...] = (10, 30, 31)) -> dict:
    """Timings of the page's steps on the whole real video with the checkpoints ``pair`` (names under
    checkpoints/), nothing stored."""
    from streamlit.testing.v1 import AppTest

    from erfkit.dashboard import Comparison, Display, ViewSettings, Worker
    from erfkit.explain.keys import CYCLE

    ckpts = tuple(str(ROOT / "checkpoints" / n) for n in pair)
    view, display = ViewSettings(), Display(clip=99.0)
    out: dict = {"sequence": SEQUENCE, "checkpoints": list(pair), "new": [], "stored_page_seconds": []}
    with real_root() as (root, tmp, frames), load(busy):
        out["frames"] = frames
        settings = DashboardSettings(data=str(root), split="val", checkpoints=ckpts, cache=str(tmp / "cache"))
        t0 = time.perf_counter()
        cmp = Comparison.open(settings, SEQUENCE)
        out["size"] = f"{cmp.stores[0].size(view)} (the checkpoints')"
        obj = cmp.objects[0]
        cmp.mask_panels(1, obj, view)
        out["first_masks"] = time.perf_counter() - t0
        cmp.method_panels(1, obj, CYCLE, view, display)
        out["first_view"] = time.perf_counter() - t0
        out["first_view_floor"] = cycle_floor(cmp, 1, view)
        t0 = time.perf_counter()
        for side in range(2):
            cmp.segmentation(side, view)
        cmp.summary(view)
        cmp.timeline(view, obj)
        out["rest_segmented"] = time.perf_counter() - t0
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
                               "all_panels": time.perf_counter() - t0, "floor": cycle_floor(cmp, t, view)})
        # a new saliency method on a frame computed with the old one: only its maps are computed
        switched = dataclasses.replace(view, saliency_method="gradcam")
        t = new[0]
        out["switch_recomputed"] = sorted({k.name for _, k in cmp.pending(t, cmp.keys(switched, "memory"), switched)})
        t0 = time.perf_counter()
        for key in cmp.keys(switched, "memory"):
            cmp.method_panels(t, obj, key, switched, display)
        out["switch_seconds"] = time.perf_counter() - t0
        worker = Worker(cmp)  # what the page asks for after showing a frame: its next one, in the background
        worker.prefetch([new[-1] + 1], keys, view)
        assert worker.wait(900)
        t0 = time.perf_counter()
        cmp.frame_view(new[-1] + 1, obj, view, "memory", display)
        out["ahead_seconds"] = time.perf_counter() - t0
        cmp.compute_frames(sorted({0, 1, 2, 3} | {f for t in stored for f in (t - 1, t, t + 1, t + 2)}), view,
                           "memory")  # so that no background work runs during the timed moves
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
    both checkpoints, alone (what :mod:`benchmarks.erf_throughput` calls the floor), computed as the page
    computes them: at once, one thread each with single-threaded operations, where the comparison does so
    (:meth:`~erfkit.dashboard.Comparison.maps_of_both`); else one after the other."""
    import torch

    from erfkit.data.letterbox import Letterbox, parse_size
    from erfkit.device import at_once
    from erfkit.explain.cycle import CycleERFConfig
    from erfkit.tensors import frame_tensor, onehot

    from .erf_throughput import floor_seconds

    video = cmp.video

    def one(store) -> None:
        box = Letterbox.fit(video.size, parse_size(store.size(view)))
        x = box.image(frame_tensor(video.read_frame(frame), torch.device("cpu")))
        x_t = box.image(frame_tensor(video.read_frame(view.target), torch.device("cpu")))
        y_t = box.mask(onehot(video.prompt(view.target), sorted(video.object_frames), torch.device("cpu")))
        floor_seconds(store.model, x, x_t, y_t, CycleERFConfig(steps=view.steps, batch_size=1))

    t0 = time.perf_counter()
    if cmp._parallel():
        at_once(*(functools.partial(one, store) for store in cmp.stores))
    else:
        for store in cmp.stores:
            one(store)
    return time.perf_counter() - t0


def synthetic_atlas() -> dict:
    """Moves between stored frames of a synthetic video (atlases of both shipped checkpoints), once the
    background worker is done with what the first view asked of it."""
    from streamlit.testing.v1 import AppTest

    from erfkit.dashboard import Worker

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
        Worker.wait_all(600)  # the video's segmentation and the neighbouring frames, done in the background
        at.run()
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
