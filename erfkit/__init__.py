"""erfkit: Space-Time Memory video object segmentation that explains itself.

The public API is re-exported here and imported lazily (``import erfkit`` does
not import torch until a model is needed)::

    import erfkit
    model = erfkit.build_model("stm-tiny")
    model = erfkit.load_checkpoint("checkpoints/stm-tiny-cyclic")
    predictor = erfkit.VideoPredictor(model, memory="mem")
    results = erfkit.evaluate_davis("data/synth", "results/", split="val")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # model
    "build_model": "erfkit.model",
    "STM": "erfkit.model",
    "XMem": "erfkit.model",
    "XMemConfig": "erfkit.model",
    "Memory": "erfkit.model",
    "ModelConfig": "erfkit.model",
    "MODEL_PRESETS": "erfkit.model",
    "load_checkpoint": "erfkit.model.checkpoint",
    "save_checkpoint": "erfkit.model.checkpoint",
    # data
    "DavisDataset": "erfkit.data",
    "YouTubeVOSDataset": "erfkit.data",
    "folder_sequence": "erfkit.data",
    "read_mask": "erfkit.data",
    "write_mask": "erfkit.data",
    "make_synth": "erfkit.data",
    "SynthConfig": "erfkit.data",
    # inference
    "VideoPredictor": "erfkit.inference",
    "XMemPredictor": "erfkit.inference",
    "XMemMemoryConfig": "erfkit.inference",
    "FrameResult": "erfkit.inference",
    "GCConfig": "erfkit.inference",
    "segment_sequence": "erfkit.inference",
    "segment_dataset": "erfkit.inference",
    # evaluation
    "evaluate_davis": "erfkit.evaluation",
    "evaluate_youtube": "erfkit.evaluation",
    "score_sequence": "erfkit.evaluation",
    "score_video": "erfkit.evaluation",
    # training
    "TrainConfig": "erfkit.training",
    "train": "erfkit.training",
    # explanation
    "cycle_erf": "erfkit.explain",
    "classic_erf": "erfkit.explain",
    "saliency": "erfkit.explain",
    "explainer_for": "erfkit.explain",
    "memory_attention": "erfkit.explain",
    "temporal_attribution": "erfkit.explain",
    "error_onset": "erfkit.evaluation",
    "MapKey": "erfkit.explain",
    # errors
    "ErfkitError": "erfkit.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'erfkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
