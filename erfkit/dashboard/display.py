"""What one frame of the comparison shows: panels, their colour scales, and the view's exports.

:class:`~erfkit.dashboard.Comparison` builds these; the page lays them out
(images with Streamlit, colour bars and legends as HTML from
:mod:`erfkit.dashboard.markup`, so their labels are real text at a readable size).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from ..explain.keys import MapKey
from ..viz.maps import raw_ticks
from ..viz.style import DIFF_CMAP, HEAT_CMAP

__all__ = ["Display", "ColourScale", "MethodPanels", "MaskPanels", "FrameView", "SIDES", "METRIC_NAMES"]

#: the two checkpoints' names on the page
SIDES = ("A", "B")

#: the metric columns of the atlases, as the page names them
METRIC_NAMES = {
    "energy": "energy in mask",
    "pointing": "pointing game",
    "area50": "area ratio (50%)",
    "deletion": "deletion AUC",
    "insertion": "insertion AUC",
    "sanity": "randomised-model similarity",
}


@dataclass(frozen=True)
class Display:
    """How maps are drawn.

    Attributes:
        shared: one colour scale for A and B (fair comparison) or one per map.
        scale: ``log`` (``log10(1 + m)``) or ``linear`` display values.
        clip: end the scale at this percentile of the values (``None``: at the maximum).
        opacity: the map's opacity over the frame, in [0, 1].
    """

    shared: bool = True
    scale: str = "log"
    clip: float | None = None
    opacity: float = 0.7


@dataclass(frozen=True)
class ColourScale:
    """A colour bar: the colour map from ``low`` to ``high`` in raw units.

    Attributes:
        cmap: a matplotlib colour map name.
        low, high: the raw values at the ends (``high`` is a clip level when ``clipped``).
        unit: what the values are (e.g. ``"cycle-ERF"``).
        clipped: values above ``high`` are drawn as ``high``.
        log: the colours run evenly in ``log10(1 + m)``, not in ``m``.
    """

    cmap: str
    low: float
    high: float
    unit: str
    clipped: bool = False
    log: bool = False

    def ticks(self, n: int = 3) -> list[float]:
        """``n`` raw values from ``low`` to ``high`` at evenly spaced colours."""
        return raw_ticks(self.high, "log" if self.log else "linear", n, self.low)


@dataclass
class MethodPanels:
    """One map kind of one frame: A, B and A - B.

    Attributes:
        key: the map kind.
        maps: each checkpoint's ``[H, W]`` map of the object, raw values.
        images: ``[H, W, 3]`` uint8 panels: A, B, then A - B (on the display values).
        captions: one per image.
        scales: one :class:`ColourScale` per image.
        note: why A's and B's values are not one unit (then each has its own scale and A - B is blank), or ``""``.
    """

    key: MapKey
    maps: list[np.ndarray]
    images: list[np.ndarray]
    captions: list[str]
    scales: list[ColourScale]
    note: str = ""


@dataclass
class MaskPanels:
    """Each checkpoint's prediction of the object on one frame, filled, with the truth outlined.

    Attributes:
        images: ``[H, W, 3]`` uint8, one per checkpoint.
        captions: one per image.
        preds: ``[H, W]`` bool, each checkpoint's prediction.
        truth: ``[H, W]`` bool, the object's annotation on this frame (``None``: none).
        truth_kind: what the annotation is (``"ground truth"`` or ``"pseudo ground truth"``).
        warnings: one line per suspicious mask (collapse, explosion, jump), naming the checkpoint.
    """

    images: list[np.ndarray]
    captions: list[str]
    preds: list[np.ndarray]
    truth: np.ndarray | None
    truth_kind: str
    warnings: list[str] = field(default_factory=list)

    @property
    def metric_mask(self) -> str:
        """Which mask this frame's map metrics use: its annotation where it has one, else the prediction."""
        return self.truth_kind if self.truth is not None else "prediction"


@dataclass
class FrameView:
    """Every map of one frame, object and setting, with what the exports hold.

    Attributes:
        frame: the frame index; name: its name.
        image: ``[H, W, 3]`` the frame.
        masks: the predictions (:class:`MaskPanels`).
        methods: one :class:`MethodPanels` per map kind, in order.
        labels: each checkpoint's name.
        title: a title for exports.
    """

    frame: int
    name: str
    image: np.ndarray
    masks: MaskPanels
    methods: list[MethodPanels]
    labels: list[str]
    title: str
    display: Display = Display()

    @property
    def keys(self) -> list[MapKey]:
        return [m.key for m in self.methods]

    @property
    def maps(self) -> list[dict[MapKey, np.ndarray]]:
        """Each checkpoint's maps ``{key: [H, W]}`` (raw values)."""
        return [{m.key: m.maps[i] for m in self.methods} for i in range(len(self.labels))]

    @property
    def preds(self) -> list[np.ndarray]:
        return self.masks.preds

    @property
    def truth(self) -> np.ndarray | None:
        return self.masks.truth

    def figure_bytes(self, fmt: str) -> bytes:
        """The view as a figure (``png`` or ``pdf``): frame, each checkpoint's maps, A - B, in raw units."""
        import matplotlib.pyplot as plt

        from ..viz.figures import comparison_figure
        from ..viz.style import paper_style

        rows = [(label, pred, {k.title: self.maps[i][k] for k in self.keys})
                for i, (label, pred) in enumerate(zip(self.labels, self.preds))]
        with paper_style():
            fig = comparison_figure(self.image, self.truth, rows, shared=self.display.shared,
                                    scale=self.display.scale, clip=self.display.clip, title=self.title,
                                    truth_kind=self.masks.truth_kind)
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=200, bbox_inches="tight")
            plt.close(fig)
        return buf.getvalue()

    def npz_bytes(self) -> bytes:
        """The frame, each checkpoint's maps of the object and its prediction, as ``.npz``."""
        arrays = {"frame": self.image}
        for i, side in enumerate(SIDES[:len(self.labels)]):
            arrays.update({f"{side}_{k.name}": m for k, m in self.maps[i].items()})
            arrays[f"{side}_pred"] = self.preds[i]
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @property
    def stem(self) -> str:
        """A file name stem for exports."""
        return self.title.split(",")[0] + f"-{self.name}"


def heat_scale(top: float, key: MapKey, display: Display) -> ColourScale:
    """The colour bar of a map whose display ends at the raw value ``top``."""
    return ColourScale(HEAT_CMAP, 0.0, top, key.title, display.clip is not None, display.scale == "log")


def difference_scale(limit: float, display: Display) -> ColourScale:
    """The colour bar of A - B: symmetric, in display units of one scale shared by A and B (even when the maps
    above are shown each on its own)."""
    unit = "A - B (" + ("log10(1 + m)" if display.scale == "log" else "m") + " over the shared scale's top)"
    return ColourScale(DIFF_CMAP, -limit, limit, unit)
