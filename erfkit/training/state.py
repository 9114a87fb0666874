"""The resumable state of a training run, in one safetensors file (never pickle).

Tensors: the model's (``model.*``), Adam's moments and step counts
(``optim.<param>.<name>``) and torch's RNG (``rng.torch``).  Counters (epoch,
step, the max skip of each dataset), the training data's layouts and
frequencies, the input size, Adam's parameter groups and the config go into the
file's JSON metadata.  The file is replaced atomically, so a run killed at any moment
leaves the previous state intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save as st_save

from ..errors import CheckpointError
from ..files import atomic_write_bytes

__all__ = ["save_train_state", "load_train_state", "read_train_meta"]

KEY = "erfkit-train-state"


def save_train_state(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     meta: dict[str, Any]) -> None:
    """Write model, optimiser, RNG and ``meta`` to ``path`` atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, Any] = {}
    for idx, st in opt["state"].items():
        for name, val in st.items():
            if torch.is_tensor(val):
                tensors[f"optim.{idx}.{name}"] = val.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{name}"] = val
    tensors["rng.torch"] = torch.get_rng_state()
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in opt["param_groups"]]
    doc = {**meta, "param_groups": groups, "optim_scalars": scalars}
    atomic_write_bytes(path, st_save(tensors, metadata={KEY: json.dumps(doc, sort_keys=True)}))


def read_train_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a training state, without reading its tensors."""
    p = Path(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            raw = (f.metadata() or {}).get(KEY)
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"unreadable training state ({e})", p) from e
    if raw is None:
        raise CheckpointError("not an erfkit training state", p)
    return json.loads(raw)


def load_train_state(path: str | os.PathLike, model: torch.nn.Module,
                     optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    """Restore what :func:`save_train_state` wrote; returns the metadata."""
    p = Path(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            raw = (f.metadata() or {}).get(KEY)
        tensors = load_file(str(p))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"unreadable training state ({e})", p) from e
    if raw is None:
        raise CheckpointError("not an erfkit training state", p)
    meta = json.loads(raw)
    sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(sd, strict=True)
    if optimizer is not None:
        state: dict[int, dict[str, Any]] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, idx, name = k.split(".", 2)
                state.setdefault(int(idx), {})[name] = v
        for k, v in meta.get("optim_scalars", {}).items():
            idx, name = k.split(".", 1)
            state.setdefault(int(idx), {})[name] = v
        groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    return meta
