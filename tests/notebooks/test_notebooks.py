"""The notebooks run top to bottom on small settings and write their figures.

They use the shipped checkpoints and the default synthetic benchmark, shortened
for the test (made here once: 2 train and 3 val videos of 8 frames at the
default 240x427; the notebooks' cost is per frame).  The test injects its paths
right after the cell tagged "parameters", as papermill does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from erfkit.data.synth import make_synth
from erfkit.data.synth_config import SYNTH_PRESETS

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = {
    "01_quickstart": ["quickstart.png", "quickstart.pdf", "results/global_results-val.csv"],
    "02_cycle_erf": ["fig6_cycle_erf.png", "fig6_cycle_erf.pdf"],
    "03_gradient_correction": ["fig3.png", "fig3.pdf", "fig4.png", "fig4.pdf", "fig3.md", "fig4.md"],
    "04_tables": ["table3.md", "table4.md", "table5.md", "table3.csv"],
    "05_error_propagation": ["fig1_error_propagation.png", "fig1_error_propagation.pdf", "onset.png",
                             "memory_read_baseline.png", "memory_read_cyclic.png"],
}


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory) -> Path:
    short = dataclasses.replace(SYNTH_PRESETS["default"], train_videos=2, val_videos=3, frames=8)
    return make_synth(tmp_path_factory.mktemp("default") / "synth", short, progress=False)


def test_every_notebook_is_listed_and_stored_without_outputs():
    found = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    assert found == sorted(NOTEBOOKS)
    for name in found:
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), name
        assert any("parameters" in c.metadata.get("tags", []) for c in code), name


@pytest.mark.slow
@pytest.mark.timeout(1800)  # each cell has its own 900 s limit; the gradient-correction grids are the longest
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_and_writes_its_figures(name, default_synth, tmp_path):
    nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    where = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(where + 1, nbformat.v4.new_code_cell(
        f"SMALL = True\nDATA = {str(default_synth)!r}\nOUT = {str(tmp_path / 'out')!r}"))
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    for f in NOTEBOOKS[name]:
        path = tmp_path / "out" / f
        assert path.is_file() and path.stat().st_size > 0, f"{name} did not write {f}"
