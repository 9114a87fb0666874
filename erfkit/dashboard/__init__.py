"""The dashboard: settings, the computing behind each view (tested without a browser), and the page.

The page, ``erfkit/dashboard/app.py``, holds layout and session state only;
``erfkit dashboard`` starts it with Streamlit, passing :class:`DashboardSettings`
as script arguments.  Importing this package does not import torch until a
comparison is opened.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from .settings import DEFAULT_CHECKPOINTS, DashboardSettings, find_checkpoints

__all__ = ["DashboardSettings", "DEFAULT_CHECKPOINTS", "APP", "Comparison", "FrameView", "VideoSummary",
           "MetricTables", "Timeline", "Display", "Worker", "warm_up", "ViewSettings", "SALIENCY_METHODS", "open_dataset",
           "load_model", "find_atlases", "find_checkpoints", "DatasetOverview", "find_stores", "model_fingerprint",
           "CYCLE", "CELL_PICK", "TIMELINE_PICK", "timeline_chart", "explorer_chart", "frame_share_chart", "j_lost_chart",
           "line_chart", "ARROW_KEYS", "PREVIOUS", "NEXT", "colour_bar", "mask_legend"]

#: the page, shipped with the package
APP = Path(__file__).with_name("app.py")

_LAZY = {
    "Comparison": "erfkit.dashboard.comparison",
    "FrameView": "erfkit.dashboard.display",
    "Display": "erfkit.dashboard.display",
    "Timeline": "erfkit.dashboard.comparison",
    "Worker": "erfkit.dashboard.worker",
    "warm_up": "erfkit.dashboard.worker",
    "VideoSummary": "erfkit.dashboard.comparison",
    "MetricTables": "erfkit.dashboard.comparison",
    "ViewSettings": "erfkit.explain.views",
    "find_atlases": "erfkit.explain.views",
    "SALIENCY_METHODS": "erfkit.explain.attribution",
    "DatasetOverview": "erfkit.dashboard.overview",
    "find_stores": "erfkit.dashboard.overview",
    "model_fingerprint": "erfkit.explain.atlas",
    "CYCLE": "erfkit.explain.keys",
    **{name: "erfkit.dashboard.charts" for name in ("CELL_PICK", "TIMELINE_PICK", "timeline_chart", "explorer_chart",
                                                    "frame_share_chart", "j_lost_chart", "line_chart")},
    **{name: "erfkit.dashboard.markup" for name in ("ARROW_KEYS", "PREVIOUS", "NEXT", "colour_bar", "mask_legend")},
}


def open_dataset(root: str, split: str):
    """The DAVIS-layout dataset the page browses."""
    from ..data.davis import DavisDataset

    return DavisDataset(root, split)


def load_model(path: str):
    """A checkpoint, loaded safely."""
    from ..model.checkpoint import load_checkpoint

    return load_checkpoint(path)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'erfkit.dashboard' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
