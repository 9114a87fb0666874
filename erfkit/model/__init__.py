"""The STM model, its presets and its checkpoints."""

from __future__ import annotations

from typing import Any

import torch

from .presets import MODEL_PRESETS, ModelConfig, model_config
from .stm import STM, Memory, QueryFeatures, soft_aggregate

__all__ = ["STM", "Memory", "QueryFeatures", "ModelConfig", "MODEL_PRESETS", "build_model", "soft_aggregate"]


def build_model(name: str | ModelConfig = "stm-tiny", *, device: str | torch.device | None = "cpu",
                seed: int | None = None, **overrides: Any) -> STM:
    """Build an STM from a preset name or a :class:`ModelConfig`.

    Args:
        name: ``"stm-r50"``, ``"stm-r18"``, ``"stm-tiny"`` or a config.
        device: where to put the model.
        seed: seed for the random initialisation (``None``: torch's current RNG).
        **overrides: fields of :class:`ModelConfig` to change, e.g.
            ``extra_input="other"``.

    Returns:
        the model in eval mode (BatchNorm statistics frozen, as in training).
    """
    from ..device import resolve_device

    config = model_config(name, **overrides)
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = STM(config)
    else:
        model = STM(config)
    return model.to(resolve_device(device)).eval()
