"""Interactive charts of the page (Altair, which Streamlit ships): the timeline strip and the explorer's frame.

Both are clickable: Streamlit returns the clicked frame or cell
(``st.altair_chart(..., on_select="rerun")``).
"""

from __future__ import annotations

import base64
import io

import altair as alt
import numpy as np
import pandas as pd
from PIL import Image

from ..viz.style import COLORS

__all__ = ["timeline_chart", "explorer_chart", "frame_mass_chart", "TIMELINE_PICK", "CELL_PICK"]

#: the selection names the page reads back
TIMELINE_PICK, CELL_PICK = "frame_pick", "cell_pick"
_PALETTE = [COLORS["baseline"], COLORS["cyclic"]]


def timeline_chart(timeline, current: int, labels: list[str], height: int = 170) -> alt.LayerChart:
    """Per-frame J (or mask area) of both checkpoints, their onsets (dotted), the computed frames (ticks at the
    bottom) and the current frame (grey band); a click anywhere on a frame's column picks it."""
    table = timeline.table()
    n = len(timeline.names)
    colour = alt.Color("checkpoint:N", scale=alt.Scale(domain=labels, range=_PALETTE),
                       legend=alt.Legend(orient="top", title=None, labelFontSize=13))
    x = alt.X("frame:Q", scale=alt.Scale(domain=[-0.5, n - 0.5], nice=False),
              axis=alt.Axis(title="frame", labelFontSize=12, titleFontSize=12, tickMinStep=1))
    ymax = 1.0 if timeline.signal == "J" else max(1e-6, float(np.nanmax(table["value"]))) * 1.05
    y = alt.Y("value:Q", scale=alt.Scale(domain=[0, ymax]),
              axis=alt.Axis(title=timeline.signal, labelFontSize=12, titleFontSize=12))
    lines = alt.Chart(table).mark_line(point=alt.OverlayMarkDef(size=18)).encode(
        x=x, y=y, color=colour, tooltip=["name:N", "checkpoint:N", alt.Tooltip("value:Q", format=".3f")])
    cols = pd.DataFrame({"frame": np.arange(n), "lo": np.arange(n) - 0.5, "hi": np.arange(n) + 0.5,
                         "name": timeline.names})
    pick = alt.selection_point(name=TIMELINE_PICK, fields=["frame"], on="click", clear=False)
    columns = alt.Chart(cols).mark_rect(opacity=0.001).encode(
        x=alt.X("lo:Q", scale=alt.Scale(domain=[-0.5, n - 0.5], nice=False)), x2="hi:Q",
        tooltip=alt.Tooltip("name:N", title="go to frame")).add_params(pick)
    band = alt.Chart(pd.DataFrame({"lo": [current - 0.5], "hi": [current + 0.5]})).mark_rect(
        color="#888", opacity=0.25).encode(x="lo:Q", x2="hi:Q")
    done = pd.DataFrame({"frame": timeline.computed, "y": [0.0] * len(timeline.computed)})
    ticks = alt.Chart(done).mark_tick(color="#2a2", thickness=3, size=10).encode(
        x="frame:Q", y=alt.Y("y:Q"), tooltip=alt.value("maps computed"))
    marks = [{"frame": f, "what": f"onset {label}", "checkpoint": label}
             for label, f in timeline.onset.items() if f is not None]
    layers = [band, lines, ticks]
    if marks:
        layers.append(alt.Chart(pd.DataFrame(marks)).mark_rule(strokeDash=[4, 3], size=2).encode(
            x="frame:Q", color=colour, tooltip=["what:N", "frame:Q"]))
    if timeline.divergence is not None:
        layers.append(alt.Chart(pd.DataFrame({"frame": [timeline.divergence], "what": ["A and B diverge"]}))
                      .mark_rule(color="#555", strokeDash=[1, 2], size=2).encode(x="frame:Q", tooltip=["what:N"]))
    return alt.layer(*layers, columns).properties(height=height).configure_view(strokeWidth=0)


def _data_url(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def explorer_chart(image: np.ndarray, cell: float, picked: tuple[int, int] | None, width: int = 640) -> alt.LayerChart:
    """The query frame under a grid of memory-read cells (``cell`` pixels of the file each); a click picks a cell.

    The selection gives the cell's centre ``(cy, cx)`` in the file's pixels.
    """
    h, w = image.shape[:2]
    height = round(width * h / w)
    ny, nx = int(np.ceil(h / cell)), int(np.ceil(w / cell))
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    grid = pd.DataFrame({"x": (xx * cell).ravel(), "x2": np.minimum((xx + 1) * cell, w).ravel(),
                         "y": (yy * cell).ravel(), "y2": np.minimum((yy + 1) * cell, h).ravel()})
    grid["cx"] = ((grid.x + grid.x2) / 2).astype(int).clip(0, w - 1)
    grid["cy"] = ((grid.y + grid.y2) / 2).astype(int).clip(0, h - 1)
    xs = alt.Scale(domain=[0, w], nice=False, zero=False)
    ys = alt.Scale(domain=[h, 0], nice=False, zero=False)
    photo = alt.Chart(pd.DataFrame({"x": [0], "y": [0], "url": [_data_url(image)]})).mark_image(
        width=width, height=height, align="left", baseline="top").encode(
        x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None), url="url:N")
    pick = alt.selection_point(name=CELL_PICK, fields=["cy", "cx"], on="click", clear=False)
    cells = alt.Chart(grid).mark_rect(stroke="white", strokeOpacity=0.12, strokeWidth=0.5).encode(
        x=alt.X("x:Q", scale=xs, axis=None), x2="x2:Q", y=alt.Y("y:Q", scale=ys, axis=None), y2="y2:Q",
        fillOpacity=alt.value(0.001), tooltip=[alt.Tooltip("cy:Q", title="y"), alt.Tooltip("cx:Q", title="x")],
    ).add_params(pick)
    layers = [photo, cells]
    if picked is not None:
        layers.append(alt.Chart(pd.DataFrame({"x": [picked[1]], "y": [picked[0]]})).mark_point(
            shape="cross", size=300, color="#00E5FF", filled=True).encode(x=alt.X("x:Q", scale=xs),
                                                                          y=alt.Y("y:Q", scale=ys)))
    return alt.layer(*layers).properties(width=width, height=height).configure_view(strokeWidth=0)


def frame_mass_chart(names: list[str], share: np.ndarray, point_mass: np.ndarray | None,
                     effect: np.ndarray) -> alt.Chart:
    """Bars per memory frame: its share of the object's read, its share at the point, and the J lost without it."""
    rows = [{"memory frame": n, "measure": "share of the object's read", "value": float(v)}
            for n, v in zip(names, share)]
    if point_mass is not None:
        rows += [{"memory frame": n, "measure": "share at the clicked cell", "value": float(v)}
                 for n, v in zip(names, point_mass)]
    rows += [{"memory frame": n, "measure": "J lost without it", "value": float(v)} for n, v in zip(names, effect)]
    return alt.Chart(pd.DataFrame(rows)).mark_bar().encode(
        x=alt.X("memory frame:N", axis=alt.Axis(labelFontSize=12, titleFontSize=12, labelAngle=0)),
        xOffset="measure:N", y=alt.Y("value:Q", axis=alt.Axis(labelFontSize=12, titleFontSize=12)),
        color=alt.Color("measure:N", legend=alt.Legend(orient="top", title=None, labelFontSize=13)),
        tooltip=["memory frame:N", "measure:N", alt.Tooltip("value:Q", format=".3f")]).properties(height=220)
