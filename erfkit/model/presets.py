"""Model configurations and their named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigError
from .resnet import BACKBONES

__all__ = ["ModelConfig", "MODEL_PRESETS", "model_config", "encoder_channels", "LITE0", "LITE0_STAGES",
           "XMemConfig", "XMEM_PRESETS", "xmem_config"]

#: The EfficientNet-Lite0 backbone (:mod:`erfkit.model.efficientnet`), beside the ResNets of ``BACKBONES``.
LITE0 = "efficientnet-lite0"
#: Lite0 blocks whose outputs STM uses: stride 4 (24 ch), stride 8 (40 ch), stride 16 (112 ch, the last used).
LITE0_STAGES = (2, 4, 10)
_LITE0_CHANNELS = (24, 40, 112)


def encoder_channels(backbone: str) -> tuple[int, int, int]:
    """Channels of an encoder's stride-4, stride-8 and stride-16 outputs (r2, r3, r4)."""
    if backbone == LITE0:
        return _LITE0_CHANNELS
    bb = BACKBONES[backbone]
    return bb.channels(1), bb.channels(2), bb.channels(3)


class _Stored:
    """A config dataclass as it is stored in a checkpoint's metadata: a dict of its fields."""

    _kind = "model"  # in the error on an unknown field

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ConfigError(f"unknown {cls._kind} config fields {sorted(unknown)}")
        return cls(**d)


@dataclass(frozen=True)
class ModelConfig(_Stored):
    """Architecture of an STM.

    Attributes:
        name: preset name, recorded in checkpoints.
        backbone: a key of :data:`erfkit.model.resnet.BACKBONES` (both encoders
            use its first three stages, stride 16) or ``"efficientnet-lite0"``
            (blocks 0-10, stride 16; skips from blocks 2 and 4).
        keydim: key channels ``Ck`` (the paper: 128).
        valdim: value channels ``Cv`` (the paper: 512).
        decoder_dim: channels of the decoder (the paper: 256).
        extra_input: third input of the memory encoder: ``"other"`` (the union
            of the other objects' masks, ``conv1_o``, original STM) or
            ``"background"`` (``1 - own mask``, ``conv1_bg``, the paper
            authors' training code).
        size_multiple: frames are padded to a multiple of this (16: the
            encoders' stride).
    """

    name: str = "custom"
    backbone: str = "resnet50"
    keydim: int = 128
    valdim: int = 512
    decoder_dim: int = 256
    extra_input: Literal["other", "background"] = "background"
    size_multiple: int = 16

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES and self.backbone != LITE0:
            raise ConfigError(f"unknown backbone {self.backbone!r}; choose from {sorted(BACKBONES) + [LITE0]}")
        if self.extra_input not in ("other", "background"):
            raise ConfigError(f"extra_input must be 'other' or 'background', not {self.extra_input!r}")
        for f in ("keydim", "valdim", "decoder_dim", "size_multiple"):
            if int(getattr(self, f)) <= 0:
                raise ConfigError(f"{f} must be positive")

    def describe(self) -> str:
        """The architecture in a few words (``erfkit info``)."""
        return f"backbone {self.backbone}, third input {self.extra_input}"


#: ``stm-r50`` is the paper's model; ``stm-r18`` the authors' lighter one;
#: ``stm-tiny`` a narrow network that trains on a CPU in minutes (demo, tests,
#: shipped checkpoints); ``stm-lite0`` STM on ImageNet-pretrained EfficientNet-Lite0
#: encoders, with narrower key/value/decoder widths than the paper's so that it trains on a CPU.
MODEL_PRESETS: dict[str, ModelConfig] = {
    "stm-r50": ModelConfig("stm-r50", "resnet50", 128, 512, 256),
    "stm-r18": ModelConfig("stm-r18", "resnet18", 128, 512, 256),
    "stm-tiny": ModelConfig("stm-tiny", "resnet-tiny", 32, 64, 32),
    "stm-lite0": ModelConfig("stm-lite0", LITE0, 64, 256, 64),
}


def model_config(name: str | ModelConfig, **overrides: Any) -> ModelConfig:
    """The preset ``name`` (or a given config) with ``overrides`` applied."""
    if isinstance(name, ModelConfig):
        base = name
    else:
        if name in XMEM_PRESETS:
            raise ConfigError(f"{name!r} is an XMem preset, not an STM one (see xmem_config, build_model)")
        if name not in MODEL_PRESETS:
            known = ", ".join([*MODEL_PRESETS, *XMEM_PRESETS])
            raise ConfigError(f"unknown model {name!r}; choose from {known}")
        base = MODEL_PRESETS[name]
    return dataclasses.replace(base, **overrides) if overrides else base


# ----------------------------------------------------------------------- XMem
@dataclass(frozen=True)
class XMemConfig(_Stored):
    """Architecture of an XMem (Cheng & Schwing, ECCV 2022), :class:`erfkit.model.xmem.XMem`.

    The released network is ``XMemConfig()``: a ResNet-50 key encoder, a
    ResNet-18 value encoder, keys 64, values 512, sensory memory 64.  The
    decoder widths, fixed in XMem's code, are fields here so that a narrow
    network (``xmem-tiny``) can be built for tests.

    Attributes:
        name: preset name, recorded in checkpoints.
        key_backbone: a key of :data:`erfkit.model.resnet.BACKBONES`; the key
            encoder uses its first three stages (f4, f8, f16).
        value_backbone: the same for the value encoder, whose first convolution
            takes 5 channels (frame, own mask, the other objects' masks).
        key_dim: key channels ``Ck`` (XMem: 64).
        value_dim: value channels ``Cv`` (XMem: 512).
        hidden_dim: sensory memory channels ``Ch`` (XMem: 64); ``0`` disables it.
        decoder_dims: the decoder's channels at stride 16, 8 and 4 (XMem: 512, 256, 256).
        hidden_update_dim: channels the decoder's hidden update maps its three
            scales to (XMem: 256).
        size_multiple: frames are padded to a multiple of this (16: the encoders' stride).
    """

    _kind = "XMem"

    name: str = "custom"
    key_backbone: str = "resnet50"
    value_backbone: str = "resnet18"
    key_dim: int = 64
    value_dim: int = 512
    hidden_dim: int = 64
    decoder_dims: tuple[int, int, int] = (512, 256, 256)
    hidden_update_dim: int = 256
    size_multiple: int = 16

    def __post_init__(self) -> None:
        for f in ("key_backbone", "value_backbone"):
            if getattr(self, f) not in BACKBONES:
                raise ConfigError(f"unknown {f} {getattr(self, f)!r}; choose from {sorted(BACKBONES)}")
        object.__setattr__(self, "decoder_dims", tuple(int(d) for d in self.decoder_dims))
        if len(self.decoder_dims) != 3:
            raise ConfigError(f"decoder_dims needs 3 widths (stride 16, 8, 4), not {len(self.decoder_dims)}")
        for f in ("key_dim", "value_dim", "hidden_update_dim", "size_multiple"):
            if int(getattr(self, f)) <= 0:
                raise ConfigError(f"{f} must be positive")
        if self.hidden_dim < 0 or min(self.decoder_dims) <= 0:
            raise ConfigError("hidden_dim must be >= 0 and decoder_dims positive")
        # CBAM's channel gate reduces its input 16 times
        if min(self.value_dim, self.decoder_dims[0]) < 16:
            raise ConfigError("value_dim and decoder_dims[0] must be at least 16 (CBAM's reduction)")

    def describe(self) -> str:
        """The architecture in a few words (``erfkit info``)."""
        return (f"key encoder {self.key_backbone}, value encoder {self.value_backbone}, "
                f"key {self.key_dim}, value {self.value_dim}, hidden {self.hidden_dim}")



#: ``xmem`` is the released network (about 62.2 M parameters); ``xmem-tiny`` a
#: narrow one on the ``resnet-tiny`` trunk for tests (seconds on a CPU).
XMEM_PRESETS: dict[str, XMemConfig] = {
    "xmem": XMemConfig("xmem"),
    "xmem-tiny": XMemConfig("xmem-tiny", "resnet-tiny", "resnet-tiny", key_dim=16, value_dim=32, hidden_dim=16,
                            decoder_dims=(32, 16, 16), hidden_update_dim=16),
}


def xmem_config(name: str | XMemConfig, **overrides: Any) -> XMemConfig:
    """The XMem preset ``name`` (or a given config) with ``overrides`` applied."""
    if isinstance(name, XMemConfig):
        base = name
    else:
        if name not in XMEM_PRESETS:
            raise ConfigError(f"unknown XMem model {name!r}; choose from {', '.join(XMEM_PRESETS)}")
        base = XMEM_PRESETS[name]
    return dataclasses.replace(base, **overrides) if overrides else base
