"""One figure style for papers: readable fonts, vector PDF with embedded TrueType, fixed colour maps."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Iterator

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402

from ..files import atomic_write_bytes  # noqa: E402

__all__ = ["paper_style", "save_figure", "HEAT_CMAP", "DIFF_CMAP", "COLORS", "STYLE"]

#: explanation maps (perceptually uniform, dark = nothing)
HEAT_CMAP = "inferno"
#: signed differences A - B
DIFF_CMAP = "RdBu_r"
#: series colours: baseline, cyclic, and extras (colour-blind safe)
COLORS = {"baseline": "#0072B2", "cyclic": "#D55E00", "gc": "#009E73", "both": "#CC79A7", "other": "#555555"}
#: outline colours: ground truth, prediction
GT_COLOR, PRED_COLOR = "#00FF66", "#00CCFF"

STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "font.family": "DejaVu Sans",
    "pdf.fonttype": 42,  # TrueType in PDFs: text stays text
    "ps.fonttype": 42,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.5,
    "lines.markersize": 4,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "figure.dpi": 100,
}


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Apply :data:`STYLE` inside the block."""
    with plt.rc_context(STYLE):
        yield


def save_figure(fig, path: str | os.PathLike, formats: tuple[str, ...] = ("png", "pdf"), dpi: int = 200) -> list[Path]:
    """Write ``fig`` as ``path.png`` and ``path.pdf`` (vector), atomically; closes the figure.

    Args:
        fig: a matplotlib figure.
        path: destination without (or with) a suffix.
        formats: which files to write.
        dpi: resolution of the raster formats.
    """
    base = Path(path)
    if base.suffix in (".png", ".pdf", ".svg"):
        base = base.with_suffix("")
    written = []
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi)
        target = base.with_suffix(f".{fmt}")
        atomic_write_bytes(target, buf.getvalue())
        written.append(target)
    plt.close(fig)
    return written
