"""The STM and XMem models, their presets and their checkpoints."""

from __future__ import annotations

from typing import Any

import torch

from .presets import MODEL_PRESETS, XMEM_PRESETS, ModelConfig, XMemConfig, model_config, xmem_config
from .stm import STM, Memory, QueryFeatures, soft_aggregate
from .xmem import XMem

__all__ = ["STM", "Memory", "QueryFeatures", "ModelConfig", "MODEL_PRESETS", "build_model", "soft_aggregate",
           "XMem", "XMemConfig", "XMEM_PRESETS"]


def build_model(name: str | ModelConfig | XMemConfig = "stm-tiny", *, device: str | torch.device | None = "cpu",
                seed: int | None = None, **overrides: Any) -> STM | XMem:
    """Build an STM or an XMem from a preset name or a config.

    Args:
        name: an STM preset (``"stm-r50"``, ``"stm-r18"``, ``"stm-tiny"``,
            ``"stm-lite0"``), an XMem preset (``"xmem"``, ``"xmem-tiny"``), a
            :class:`ModelConfig` or an :class:`XMemConfig`.
        device: where to put the model.
        seed: seed for the random initialisation (``None``: torch's current RNG).
        **overrides: fields of the config to change, e.g. ``extra_input="other"``
            (STM) or ``hidden_dim=0`` (XMem).

    Returns:
        the model in eval mode (BatchNorm statistics frozen, as in training).
    """
    from ..device import resolve_device

    if isinstance(name, XMemConfig) or (isinstance(name, str) and name in XMEM_PRESETS):
        config: ModelConfig | XMemConfig = xmem_config(name, **overrides)
        net: type[STM] | type[XMem] = XMem
    else:
        config = model_config(name, **overrides)
        net = STM
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = net(config)
    else:
        model = net(config)
    return model.to(resolve_device(device)).eval()
