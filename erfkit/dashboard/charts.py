"""Interactive charts of the page as Vega-Lite specifications: the timeline strip, the explorer's frame, bars
and curves.

They are plain dictionaries for ``st.vega_lite_chart``: building the same
charts with Altair validates every layer against the Vega-Lite schema, which
took about 1.5 s per page run, more than everything else on a stored frame.
The timeline and the explorer are clickable: Streamlit returns the clicked
frame or cell (``st.vega_lite_chart(..., on_select="rerun")``) under the
selection names :data:`TIMELINE_PICK` and :data:`CELL_PICK`.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pandas as pd
from PIL import Image

from ..viz.style import COLORS

__all__ = ["timeline_chart", "explorer_chart", "frame_share_chart", "j_lost_chart", "line_chart", "TIMELINE_PICK", "CELL_PICK"]

#: the selection names the page reads back
TIMELINE_PICK, CELL_PICK = "frame_pick", "cell_pick"
_PALETTE = [COLORS["baseline"], COLORS["cyclic"]]
_AXIS = {"labelFontSize": 12, "titleFontSize": 12}
_LEGEND = {"orient": "top", "title": None, "labelFontSize": 13}


def _q(field: str, **extra) -> dict:
    return {"field": field, "type": "quantitative", **extra}


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as JSON-safe dicts (NaN as null)."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in df.to_dict("records")]


def timeline_chart(timeline, current: int, labels: list[str], height: int = 170) -> dict:
    """Per-frame J (or mask area) of both checkpoints, their onsets (dashed), where they diverge (dotted), their
    suspicious masks (triangles at the top), the computed frames (ticks at the bottom) and the current frame
    (grey band); a click anywhere on a frame's column picks it."""
    table = timeline.table()
    n = len(timeline.names)
    xs = {"domain": [-0.5, n - 0.5], "nice": False, "zero": False}
    x = _q("frame", scale=xs, axis={**_AXIS, "title": "frame", "tickMinStep": 1})
    values = table["value"].to_numpy(dtype=float)
    top = 1.0 if timeline.signal == "J" else max(1e-6, float(np.nanmax(values)) if np.isfinite(values).any() else 1)
    y = _q("value", scale={"domain": [0, top * (1 if timeline.signal == "J" else 1.05)]},
           axis={**_AXIS, "title": timeline.signal})
    colour = {"field": "checkpoint", "type": "nominal", "scale": {"domain": labels, "range": _PALETTE},
              "legend": _LEGEND}
    cols = [{"frame": t, "lo": t - 0.5, "hi": t + 0.5, "name": name} for t, name in enumerate(timeline.names)]
    layers = [
        {"data": {"values": [{"lo": current - 0.5, "hi": current + 0.5}]},
         "mark": {"type": "rect", "color": "#888", "opacity": 0.25},
         "encoding": {"x": _q("lo", scale=xs), "x2": {"field": "hi"}}},
        {"data": {"values": _records(table)}, "mark": {"type": "line", "point": {"size": 18}},
         "encoding": {"x": x, "y": y, "color": colour,
                      "tooltip": [{"field": "name", "type": "nominal", "title": "frame"},
                                  {"field": "checkpoint", "type": "nominal"},
                                  _q("value", format=".3f", title=timeline.signal)]}},
        {"data": {"values": [{"frame": t} for t in timeline.computed]},
         "mark": {"type": "tick", "color": "#2a2", "thickness": 3, "size": 10},
         "encoding": {"x": _q("frame", scale=xs), "y": {"datum": 0}}},
    ]
    onsets = [{"frame": f, "checkpoint": label, "what": f"onset of {label}"}
              for label, f in timeline.onset.items() if f is not None]
    if onsets:
        layers.append({"data": {"values": onsets}, "mark": {"type": "rule", "strokeDash": [4, 3], "size": 2},
                       "encoding": {"x": _q("frame", scale=xs), "color": colour,
                                    "tooltip": [{"field": "what", "type": "nominal"}]}})
    events = [{"frame": e.frame, "checkpoint": label, "what": f"{label}: {e.kind} ({e.detail})"}
              for label, es in timeline.events.items() for e in es]
    if events:
        layers.append({"data": {"values": events},
                       "mark": {"type": "point", "shape": "triangle-down", "size": 90, "filled": True,
                                "opacity": 0.9},
                       "encoding": {"x": _q("frame", scale=xs), "y": {"datum": top},
                                    "color": colour, "tooltip": [{"field": "what", "type": "nominal"}]}})
    if timeline.divergence is not None:
        layers.append({"data": {"values": [{"frame": timeline.divergence, "what": "A and B diverge"}]},
                       "mark": {"type": "rule", "color": "#555", "strokeDash": [1, 2], "size": 2},
                       "encoding": {"x": _q("frame", scale=xs), "tooltip": [{"field": "what", "type": "nominal"}]}})
    layers.append({"data": {"values": cols},
                   "params": [{"name": TIMELINE_PICK,
                               "select": {"type": "point", "fields": ["frame"], "on": "click", "clear": False}}],
                   "mark": {"type": "rect", "opacity": 0.001},
                   "encoding": {"x": _q("lo", scale=xs), "x2": {"field": "hi"},
                                "tooltip": [{"field": "name", "type": "nominal", "title": "go to frame"}]}})
    return {"height": height, "layer": layers, "config": {"view": {"strokeWidth": 0}}}


def _data_url(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def explorer_chart(image: np.ndarray, cell: float, picked: tuple[int, int] | None, width: int = 640) -> dict:
    """The query frame under a grid of memory-read cells (``cell`` pixels of the file each); a click picks a cell.

    The selection gives the cell's centre ``(cy, cx)`` in the file's pixels.
    """
    h, w = image.shape[:2]
    height = round(width * h / w)
    ny, nx = int(np.ceil(h / cell)), int(np.ceil(w / cell))
    cells = []
    for i in range(ny):
        for j in range(nx):
            y0, y1, x0, x1 = i * cell, min((i + 1) * cell, h), j * cell, min((j + 1) * cell, w)
            cells.append({"x": x0, "x2": x1, "y": y0, "y2": y1, "cy": min(h - 1, int((y0 + y1) / 2)),
                          "cx": min(w - 1, int((x0 + x1) / 2))})
    xs = {"domain": [0, w], "nice": False, "zero": False}
    ys = {"domain": [h, 0], "nice": False, "zero": False}
    layers = [
        {"data": {"values": [{"x": 0, "y": 0, "url": _data_url(image)}]},
         "mark": {"type": "image", "width": width, "height": height, "align": "left", "baseline": "top"},
         "encoding": {"x": _q("x", scale=xs, axis=None), "y": _q("y", scale=ys, axis=None),
                      "url": {"field": "url", "type": "nominal"}}},
        {"data": {"values": cells},
         "params": [{"name": CELL_PICK,
                     "select": {"type": "point", "fields": ["cy", "cx"], "on": "click", "clear": False}}],
         "mark": {"type": "rect", "stroke": "white", "strokeOpacity": 0.12, "strokeWidth": 0.5, "fillOpacity": 0.001},
         "encoding": {"x": _q("x", scale=xs, axis=None), "x2": {"field": "x2"},
                      "y": _q("y", scale=ys, axis=None), "y2": {"field": "y2"},
                      "tooltip": [_q("cy", title="y"), _q("cx", title="x")]}},
    ]
    if picked is not None:
        layers.append({"data": {"values": [{"x": picked[1], "y": picked[0]}]},
                       "mark": {"type": "point", "shape": "cross", "size": 300, "color": "#00E5FF", "filled": True},
                       "encoding": {"x": _q("x", scale=xs, axis=None), "y": _q("y", scale=ys, axis=None)}})
    return {"width": width, "height": height, "layer": layers, "config": {"view": {"strokeWidth": 0}}}


def frame_share_chart(names: list[str], share: np.ndarray, point_mass: np.ndarray | None) -> dict:
    """Bars per memory unit (a frame in memory, or XMem's long-term memory): its share of the object's read and
    its share at the clicked cell (0 to 1)."""
    rows = [{"memory unit": n, "measure": "share of the object's read", "share": float(v)}
            for n, v in zip(names, share)]
    if point_mass is not None:
        rows += [{"memory unit": n, "measure": "share at the clicked cell", "share": float(v)}
                 for n, v in zip(names, point_mass)]
    return {"height": 180, "data": {"values": rows}, "mark": "bar",
            "encoding": {"x": {"field": "memory unit", "type": "nominal", "axis": {**_AXIS, "labelAngle": 0}},
                         "xOffset": {"field": "measure", "type": "nominal"},
                         "y": _q("share", scale={"domain": [0, 1]}, axis={**_AXIS, "title": "share of the read"}),
                         "color": {"field": "measure", "type": "nominal", "legend": _LEGEND},
                         "tooltip": [{"field": "memory unit", "type": "nominal"},
                                     {"field": "measure", "type": "nominal"}, _q("share", format=".3f")]}}


def j_lost_chart(names: list[str], effect: np.ndarray) -> dict:
    """Bars per memory unit (a frame in memory, or XMem's long-term memory): the J of the frame lost when that
    unit is left out (its own axis, in J)."""
    rows = [{"memory unit": n, "J lost without it": float(v)} for n, v in zip(names, effect)]
    return {"height": 140, "data": {"values": rows}, "mark": {"type": "bar", "color": COLORS["other"]},
            "encoding": {"x": {"field": "memory unit", "type": "nominal", "axis": {**_AXIS, "labelAngle": 0}},
                         "y": _q("J lost without it", axis=_AXIS),
                         "tooltip": [{"field": "memory unit", "type": "nominal"},
                                     _q("J lost without it", format=".3f")]}}


def line_chart(table: pd.DataFrame, y_title: str, height: int = 200) -> dict:
    """One line per column of ``table`` (its index on x, e.g. frame names)."""
    long = table.rename_axis("frame").reset_index().melt("frame", var_name="series", value_name="value")
    return {"height": height, "data": {"values": _records(long)}, "mark": {"type": "line", "point": True},
            "encoding": {"x": {"field": "frame", "type": "ordinal", "axis": _AXIS},
                         "y": _q("value", axis={**_AXIS, "title": y_title}),
                         "color": {"field": "series", "type": "nominal", "legend": _LEGEND}}}
