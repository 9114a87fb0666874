"""Run the paper's experiments and figures with the shipped checkpoints and write RESULTS.md.

Runs (unless --skip-run):

    erfkit experiment all --data data/synth --baseline checkpoints/stm-tiny-baseline \
        --cyclic checkpoints/stm-tiny-cyclic --out results/paper
    erfkit figures --data data/synth --out results/figures

then assembles RESULTS.md from the tables and plots those commands wrote (the
plots are copied to docs/results/), with the commentary of
benchmarks/commentary/<section>.md after each section.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from .common import ROOT, synth_data

PAPER_DIR = ROOT / "results" / "paper"
FIG_DIR = ROOT / "results" / "figures"
DOCS = ROOT / "docs" / "results"
COMMENTARY = ROOT / "benchmarks" / "commentary"
EXPERIMENT_CMD = ("erfkit experiment all --data data/synth --baseline checkpoints/stm-tiny-baseline "
                  "--cyclic checkpoints/stm-tiny-cyclic --out results/paper")
FIGURES_CMD = "erfkit figures --data data/synth --out results/figures"

SECTIONS = [  # (name, markdown written by the command, images, command)
    ("table3", PAPER_DIR / "table3.md", [], EXPERIMENT_CMD),
    ("table4", PAPER_DIR / "table4.md", [], EXPERIMENT_CMD),
    ("table5", PAPER_DIR / "table5.md", [], EXPERIMENT_CMD),
    ("fig3", PAPER_DIR / "fig3.md", [PAPER_DIR / "fig3.png"], EXPERIMENT_CMD),
    ("fig4", PAPER_DIR / "fig4.md", [PAPER_DIR / "fig4.png"], EXPERIMENT_CMD),
    ("fig1", None, [FIG_DIR / "fig1_error_propagation.png"], FIGURES_CMD),
    ("cycle_erf", PAPER_DIR / "cycle_erf.md", [PAPER_DIR / "cycle_erf.png", FIG_DIR / "fig6_cycle_erf.png"],
     EXPERIMENT_CMD + " (and " + FIGURES_CMD + " for the maps)"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-run", action="store_true", help="only assemble RESULTS.md from existing outputs")
    args = ap.parse_args()
    data = synth_data()
    if not args.skip_run:
        base = [sys.executable, "-m", "erfkit"]
        subprocess.run(base + ["experiment", "all", "--data", str(data), "--baseline",
                               str(ROOT / "checkpoints" / "stm-tiny-baseline"), "--cyclic",
                               str(ROOT / "checkpoints" / "stm-tiny-cyclic"), "--out", str(PAPER_DIR)], check=True)
        subprocess.run(base + ["figures", "--data", str(data), "--out", str(FIG_DIR)], check=True)
    DOCS.mkdir(parents=True, exist_ok=True)
    parts = ["# Results: the paper's experiments on the synthetic benchmark", "",
             "Everything here was produced with the two shipped `stm-tiny` checkpoints on the validation split of the "
             "default synthetic benchmark (20 videos); each section names its command (`python -m "
             "benchmarks.results_page` runs them and rewrites this page). The paper's numbers (DAVIS 2017 val, "
             "ResNet-50 pretrained on ImageNet, GPU) stand beside ours: compare directions and sizes of effects, not "
             "values.", ""]
    intro = COMMENTARY / "intro.md"
    if intro.is_file():
        parts += [intro.read_text().strip(), ""]
    for name, md, images, cmd in SECTIONS:
        if md is not None:
            text = md.read_text().strip()
        else:
            text = "## Figure 1 idea: error propagation on a video with a distractor"
        parts += [text, "", f"Command: `{cmd}`", ""]
        for img in images:
            if img.is_file():
                shutil.copy2(img, DOCS / img.name)
                parts += [f"![{img.stem}](docs/results/{img.name})", ""]
        comment = COMMENTARY / f"{name}.md"
        if comment.is_file():
            parts += [comment.read_text().strip(), ""]
    (ROOT / "RESULTS.md").write_text("\n".join(parts).rstrip() + "\n")
    print((ROOT / "RESULTS.md").read_text())


if __name__ == "__main__":
    main()
