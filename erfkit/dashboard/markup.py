"""HTML pieces of the page: colour bars and legends as real text (readable at any zoom), and arrow-key steering.

(Named ``markup``, not ``html``: Streamlit puts the page's folder on ``sys.path``,
where an ``html.py`` would hide the standard library's.)

The page draws images with Streamlit; text inside an image shrinks with it
(colour-bar labels of 2-5 px on a wide frame), so scales and legends are HTML
with a fixed font size (:data:`FONT_PX`).
"""

from __future__ import annotations

import html

from ..viz.render import lut
from ..viz.style import GT_COLOR, PRED_COLOR

__all__ = ["colour_bar", "mask_legend", "ARROW_KEYS", "FONT_PX", "PREVIOUS", "NEXT"]

#: the font size of every label drawn here (the issue asks for at least 12 px at 100% zoom)
FONT_PX = 13
#: the labels of the frame-step buttons (the arrow keys press them)
PREVIOUS, NEXT = "◀", "▶"


def _fmt(v: float) -> str:
    return "0" if v == 0 else f"{v:.3g}"


def colour_bar(scale) -> str:
    """A horizontal colour bar of a :class:`~erfkit.dashboard.display.ColourScale`, labelled in raw units."""
    colours = lut(scale.cmap)[::32].tolist() + [lut(scale.cmap)[-1].tolist()]
    gradient = ", ".join(f"rgb({r},{g},{b})" for r, g, b in colours)
    ticks = [_fmt(v) for v in scale.ticks(3)]
    if scale.clipped:
        ticks[-1] = "≥" + ticks[-1]
    spans = "".join(f'<span class="erfkit-tick">{html.escape(t)}</span>' for t in ticks)
    note = html.escape(scale.unit) + (" · colours in log10(1 + value)" if scale.log else "")
    return (f'<div class="erfkit-colourbar" style="margin:0 0 6px 0;font-size:{FONT_PX}px;line-height:1.3">'
            f'<div style="height:12px;border:1px solid #999;background:linear-gradient(to right, {gradient})"></div>'
            f'<div style="display:flex;justify-content:space-between">{spans}</div>'
            f'<div style="color:#555">{note}</div></div>')


def _swatch(colour: str, filled: bool) -> str:
    style = f"background:{colour}99;border:2px solid {colour}" if filled else f"border:3px solid {colour}"
    return f'<span style="display:inline-block;width:14px;height:14px;{style};vertical-align:middle"></span>'


def mask_legend(truth_kind: str | None) -> str:
    """The legend of the mask panels: the prediction (filled) and the annotation (outlined), if the frame has one."""
    items = [f"{_swatch(PRED_COLOR, True)} prediction"]
    if truth_kind:
        items.append(f"{_swatch(GT_COLOR, False)} {html.escape(truth_kind)}")
    else:
        items.append("no annotation on this frame")
    return (f'<div class="erfkit-legend" style="font-size:{FONT_PX}px;margin:0 0 8px 0">'
            + " &nbsp; ".join(items) + "</div>")


#: left / right arrow keys press the previous / next frame buttons (not while typing or on a slider)
ARROW_KEYS = f"""
<script>
const doc = window.parent.document;
if (!doc.erfkitArrowKeys) {{
  doc.erfkitArrowKeys = true;
  doc.addEventListener("keydown", (e) => {{
    const t = e.target || {{}};
    const tag = (t.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || t.isContentEditable) return;
    if (t.getAttribute && t.getAttribute("role") === "slider") return;
    const label = e.key === "ArrowLeft" ? "{PREVIOUS}" : e.key === "ArrowRight" ? "{NEXT}" : null;
    if (!label) return;
    const button = [...doc.querySelectorAll("button")].find((b) => b.innerText.trim() === label);
    if (button && !button.disabled) {{ button.click(); e.preventDefault(); }}
  }});
}}
</script>
"""
