"""Dashboard responsiveness with an atlas: time to re-render after moving to another frame.

Atlases of one validation video (12 frames, cycle-ERF + classic ERF +
saliency) are built for the two shipped checkpoints with `erfkit erf`; the
app then runs headless (Streamlit's AppTest) reading them, and each move of
the frame slider is timed (the script's full re-run: loading both
checkpoints' maps, rendering 16 panels, tables).  Target: median under 300 ms.
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

FRAMES = 12


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
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
                        str(atlas / c.name), "--frames", f"0-{FRAMES - 1}", "--metrics-every", "0",
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
    save("dashboard_latency", {"sequence": seq, "atlas_frames": FRAMES, "atlas_build_seconds": build,
                               "move_seconds": times, "median_ms": 1000 * statistics.median(times)})


if __name__ == "__main__":
    main()
