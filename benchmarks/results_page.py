"""Run the paper's experiments and figures with the shipped checkpoints and write RESULTS.md.

Runs (unless --skip-run), for each NAME of table3 table4 table5 fig3 fig4 cycle_erf:

    erfkit experiment NAME --data data/synth --baseline checkpoints/stm-tiny-baseline \
        --cyclic checkpoints/stm-tiny-cyclic --out results/paper
    erfkit experiment fig1,fig5,fig6 --data data/synth --baseline checkpoints/stm-tiny-baseline \
        --cyclic checkpoints/stm-tiny-cyclic --out results/figures

then assembles RESULTS.md from the tables and plots those commands wrote (the
plots are copied to docs/results/), with the commentary of
benchmarks/commentary/<section>.md after each section.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

from .common import ROOT, synth_data

PAPER_DIR = ROOT / "results" / "paper"
FIG_DIR = ROOT / "results" / "figures"
DOCS = ROOT / "docs" / "results"
COMMENTARY = ROOT / "benchmarks" / "commentary"
CHECKPOINTS = ["--baseline", "checkpoints/stm-tiny-baseline", "--cyclic", "checkpoints/stm-tiny-cyclic"]
EXPERIMENTS = ("table3", "table4", "table5", "fig3", "fig4", "cycle_erf")
FIGURES = ("fig1", "fig5", "fig6")  # figures without a table: written into results/figures


#: the default pair (stm-lite0) on the demo's two real videos (pseudo ground truth)
REAL_DIR = ROOT / "results" / "lite0-real"
REAL_ARGS = ["experiment", "table3,table4,table5,cycle_erf", "--data", "demo/davis2017-real",
             "--baseline", "checkpoints/stm-lite0-baseline", "--cyclic", "checkpoints/stm-lite0-cyclic",
             "--out", "results/lite0-real"]


def experiment_args(name: str) -> list[str]:
    return ["experiment", name, "--data", "data/synth", *CHECKPOINTS, "--out", "results/paper"]


FIGURES_ARGS = ["experiment", ",".join(FIGURES), "--data", "data/synth", *CHECKPOINTS, "--out", "results/figures"]


def command(args: list[str]) -> str:
    return "erfkit " + " ".join(args)


SECTIONS = [  # (name, markdown written by the command, images, command)
    *[(name, PAPER_DIR / f"{name}.md", [PAPER_DIR / f"{name}.png"],
       command(experiment_args(name)))
      for name in EXPERIMENTS],
    ("fig1", None, [FIG_DIR / "fig1_error_propagation.png"], command(FIGURES_ARGS)),
    ("fig6", None, [FIG_DIR / "fig6_cycle_erf.png"], command(FIGURES_ARGS)),
    ("fig5", None, [FIG_DIR / "fig5_qualitative.png"], command(FIGURES_ARGS)),
]
TITLES = {"fig1": "## Figure 1 idea: error propagation on a video with a distractor",
          "fig6": "## Figure 6 layout: cycle-ERF of baseline and cyclic on the same frames",
          "fig5": "## Figure 5 layout: qualitative results"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-run", action="store_true", help="only assemble RESULTS.md from existing outputs")
    args = ap.parse_args()
    synth_data()  # the default benchmark, made if missing
    if not args.skip_run:
        for args_ in [experiment_args(n) for n in EXPERIMENTS] + [FIGURES_ARGS, REAL_ARGS]:
            subprocess.run([sys.executable, "-m", "erfkit", *args_], check=True, cwd=ROOT)
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
            text = TITLES[name]
        parts += [text, "", f"Command: `{cmd}`", ""]
        for img in images:
            if img.is_file():
                shutil.copy2(img, DOCS / img.name)
                parts += [f"![{img.stem}](docs/results/{img.name})", ""]
        comment = COMMENTARY / f"{name}.md"
        if comment.is_file():
            parts += [comment.read_text().strip(), ""]
    parts += lite0_section()
    (ROOT / "RESULTS.md").write_text("\n".join(parts).rstrip() + "\n")
    print((ROOT / "RESULTS.md").read_text())


def lite0_section() -> list[str]:
    """The default pair's Tables 3-5 and cycle-ERF study on the real videos (each table's heading one level
    down), between benchmarks/commentary/lite0_intro.md and lite0_results.md."""
    parts = [(COMMENTARY / "lite0_intro.md").read_text().strip(), "", f"Command: `{command(REAL_ARGS)}`", ""]
    for name in ("table3", "table4", "table5", "cycle_erf"):
        md = REAL_DIR / f"{name}.md"
        if md.is_file():
            parts += [re.sub(r"^## ", "### ", md.read_text().strip(), flags=re.M), ""]
    return parts + [(COMMENTARY / "lite0_results.md").read_text().strip(), ""]


if __name__ == "__main__":
    main()
