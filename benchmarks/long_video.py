"""A long, large video through `erfkit segment` with the memory cap: peak memory stays bounded.

A 1000-frame video at 480x854 is made from a synthetic validation video
(upscaled, played forwards and backwards).  `erfkit segment --memory-cap 8`
runs on its first 100 and on all 1000 frames in child processes; their peak
resident memory (RSS) is compared.  Without the cap, memory grows with the
video: shown on the first 100 and 200 frames.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from erfkit.data.masks import write_mask

from .common import ROOT, benchmark_video, save

SIZE = (854, 480)


def make_video(folder: Path, n: int) -> Path:
    seq = benchmark_video()
    order = list(range(len(seq))) + list(range(len(seq) - 2, 0, -1))
    frames = folder / "frames"
    frames.mkdir(parents=True)
    for i in range(n):
        img = Image.fromarray(seq.read_frame(order[i % len(order)])).resize(SIZE, Image.Resampling.BILINEAR)
        img.save(frames / f"{i:05d}.jpg", quality=90)
    mask = np.asarray(Image.fromarray(seq.prompt(0)).resize(SIZE, Image.Resampling.NEAREST))
    write_mask(folder / "first.png", mask)
    return folder


def segment(video: Path, n: int, out: Path, cap: int | None) -> dict:
    """Run segment on the first n frames in a child process; its peak RSS and time."""
    sub = video / f"first{n}"
    if not sub.exists():
        sub.mkdir()
        for f in sorted((video / "frames").glob("*.jpg"))[:n]:
            (sub / f.name).symlink_to(f)
    cmd = [sys.executable, "-c", "import resource, sys\nfrom erfkit.cli import main\nrc = main(sys.argv[1:])\n"
           "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\nsys.exit(rc)",
           "segment", "--checkpoint", str(ROOT / "checkpoints" / "stm-tiny-cyclic"), "--frames", str(sub),
           "--mask", str(video / "first.png"), "--out", str(out), "--overwrite"]
    if cap is not None:
        cmd += ["--memory-cap", str(cap)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    rss = int(next(ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("MAXRSS_KB")))
    shutil.rmtree(out, ignore_errors=True)
    return {"frames": n, "memory_cap": cap, "peak_rss_mib": rss / 1024, "seconds": seconds}


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = make_video(Path(tmp) / "video", 1000)
        runs = [segment(video, n, Path(tmp) / "out", cap) for n, cap in
                ((100, 8), (1000, 8), (100, None), (200, None))]
    save("long_video", {"size": [SIZE[1], SIZE[0]], "runs": runs,
                        "capped_growth": runs[1]["peak_rss_mib"] / runs[0]["peak_rss_mib"]})


if __name__ == "__main__":
    main()
