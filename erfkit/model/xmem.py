"""The XMem network (Cheng & Schwing, ECCV 2022): keys, values, sensory memory, decoder.

Module and parameter names follow XMem's released state dict (``key_encoder``,
``value_encoder``, ``key_proj``, ``decoder``; inside them ``res2``/``layer2``,
``fuser.block1``, ``attention.ChannelGate.mlp.1`` ...), so the released
``XMem.pth`` loads strictly by name (:func:`erfkit.model.checkpoint.load_checkpoint`).

The network's operations mirror XMem's, batched over objects as XMem does:

* :meth:`XMem.encode_key`: frame -> key, shrinkage, selection and the key
  encoder's multi-scale features ``f16, f8, f4``;
* :meth:`XMem.encode_value`: frame, ``f16``, sensory memory and masks ->
  each object's value and (deep update) its new sensory memory;
* :meth:`XMem.read_memory`: the memory read of training (one softmax over the
  whole memory); inference reads through a memory manager with the functions of
  :mod:`erfkit.model.xmem_memory_ops`;
* :meth:`XMem.decode` (XMem's ``segment``): features, read-out and sensory
  memory -> new sensory memory, aggregated logits and probabilities.

XMem also implements erfkit's memory-model interface
(:class:`~erfkit.model.memory_model.MemoryModel`: :meth:`XMem.memorize`,
:meth:`XMem.encode_query`, :meth:`XMem.memory_weights`,
:meth:`XMem.object_logits`, :meth:`XMem.segment`), which every explainer
uses.  Those take RGB frames in ``[0, 1]`` as STM's do and prepare them
themselves; "memorise a frame alone" there means what XMem's inference does
with a video's first frame (see :meth:`XMem.memorize`).

Input normalisation: XMem normalises frames with the ImageNet mean/std in its
data readers, *before* resizing and padding, and its network takes normalised
frames.  erfkit keeps that split: every method here takes normalised,
padded frames (so it computes what XMem's network computes on the same tensor),
and the caller prepares frames with :meth:`XMem.prepare_frame` (RGB in
``[0, 1]`` -> normalised, then zero-padded to a multiple of 16, centred, as
XMem's ``pad_divide_by``) and crops outputs back with :func:`unpad`.

Shapes: ``B`` batch, ``K`` objects, ``H x W`` the padded frame, ``h x w = H/16
x W/16``, ``Ck``/``Cv``/``Ch`` key/value/sensory-memory channels, ``C16``,
``C8``, ``C4`` the key encoder's channels at strides 16, 8, 4.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from .memory_model import MemoryModel, Side
from .presets import XMemConfig
from .resnet import BACKBONES, ResNet
from .stm import IMAGENET_MEAN, IMAGENET_STD, pad_to_multiple, soft_aggregate
from .xmem_memory_ops import affinity, readout

if TYPE_CHECKING:
    from .info import CheckpointInfo

__all__ = ["XMem", "XMemConfig", "XMemFrames", "XMemQuery", "XMemStem", "unpad", "KeyFeatures"]

#: What :meth:`XMem.encode_key` returns: key, shrinkage, selection, f16, f8, f4.
KeyFeatures = tuple[torch.Tensor, "torch.Tensor | None", "torch.Tensor | None", torch.Tensor, torch.Tensor,
                    torch.Tensor]


def unpad(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Crop the padding ``(left, right, top, bottom)`` of :meth:`XMem.prepare_frame` off the last two dims."""
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    return x[..., top:h - bottom, left:w - right]


# ------------------------------------------------------------ object groups
def _flat(fn: Any, g: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D module ``fn`` to every object: ``[B, K, C, H, W]`` -> ``[B, K, C', H', W']``."""
    out = fn(g.flatten(0, 1))
    return out.reshape(*g.shape[:2], *out.shape[1:])


def _with_frame(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Concatenate frame features ``x [B, C, H, W]`` before every object's ``g [B, K, C', H, W]`` (channels)."""
    return torch.cat([x[:, None].expand(-1, g.shape[1], -1, -1, -1), g], dim=2)


def _resize(g: torch.Tensor, ratio: float, mode: str) -> torch.Tensor:
    """Resize every object's features ``[B, K, C, H, W]`` by ``ratio`` (bilinear up, area down)."""
    align = False if mode == "bilinear" else None
    return _flat(lambda t: F.interpolate(t, scale_factor=ratio, mode=mode, align_corners=align), g)


class GroupConv2d(nn.Conv2d):
    """A 2-D convolution applied to each object: ``[B, K, C, H, W]`` -> ``[B, K, C', H', W']``."""

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        return _flat(super().forward, g)


class GroupResBlock(nn.Module):
    """Pre-activation residual block over objects: ``conv2(relu(conv1(relu(g)))) + skip(g)``.

    ``skip`` is the identity when the widths agree, else a 3x3 convolution
    (``downsample``, XMem's name for it).
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.downsample = None if in_dim == out_dim else GroupConv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.conv1 = GroupConv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.conv2 = GroupConv2d(out_dim, out_dim, kernel_size=3, padding=1)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(F.relu(g))))
        return out + (g if self.downsample is None else self.downsample(g))


# -------------------------------------------------------------------- CBAM
class ChannelGate(nn.Module):
    """CBAM's channel attention: ``x * sigmoid(mlp(avgpool(x)) + mlp(maxpool(x)))``, one weight per channel."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        # index 0 is the parameter-free flatten, so the linear layers are mlp.1 and mlp.3 as in XMem
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, channels // reduction), nn.ReLU(),
                                 nn.Linear(channels // reduction, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [N, C, H, W]`` -> ``[N, C, H, W]``."""
        avg = F.avg_pool2d(x, x.shape[-2:])
        top = F.max_pool2d(x, x.shape[-2:])
        scale = torch.sigmoid(self.mlp(avg) + self.mlp(top))
        return x * scale[:, :, None, None]


class SpatialGate(nn.Module):
    """CBAM's spatial attention: ``x * sigmoid(conv7x7([max_c x, mean_c x]))``, one weight per pixel."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        # XMem's parameter is spatial.conv.weight: one level of nesting with a 'conv' inside
        self.spatial = nn.ModuleDict({"conv": nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [N, C, H, W]`` -> ``[N, C, H, W]``."""
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial["conv"](pooled))


class CBAM(nn.Module):
    """Convolutional block attention (Woo et al., 2018): channel gate, then spatial gate."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.ChannelGate = ChannelGate(channels, reduction)
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class FeatureFusion(nn.Module):
    """Fuses frame features with each object's features: ``block2(g + cbam(g))``, ``g = block1([x, g_k])``.

    Args:
        x_dim: channels of the frame features ``x``.
        g_dim: channels of the object features ``g``.
        mid_dim: channels after ``block1`` (and of the attention).
        out_dim: channels of the output.
    """

    def __init__(self, x_dim: int, g_dim: int, mid_dim: int, out_dim: int):
        super().__init__()
        self.block1 = GroupResBlock(x_dim + g_dim, mid_dim)
        self.attention = CBAM(mid_dim)
        self.block2 = GroupResBlock(mid_dim, out_dim)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``x [B, Cx, h, w]``, ``g [B, K, Cg, h, w]`` -> ``[B, K, out_dim, h, w]``."""
        g = self.block1(_with_frame(x, g))
        return self.block2(g + _flat(self.attention, g))


# --------------------------------------------------------- sensory memory
def _gated_update(gates: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """XMem's GRU-like update of the sensory memory.

    ``gates [B, K, 3*Ch, h, w]`` are split into forget ``f``, update ``u`` (both
    sigmoids) and candidate ``c`` (tanh); the new memory is
    ``f * h * (1 - u) + u * c``.  (A GRU would not gate ``c`` by ``f``'s
    complement; XMem's form is kept: the released weights were trained with it.)
    """
    ch = hidden.shape[2]
    forget = torch.sigmoid(gates[:, :, :ch])
    update = torch.sigmoid(gates[:, :, ch:2 * ch])
    candidate = torch.tanh(gates[:, :, 2 * ch:])
    return forget * hidden * (1 - update) + update * candidate


class HiddenReinforce(nn.Module):
    """The value encoder's deep update of the sensory memory from the new values."""

    def __init__(self, value_dim: int, hidden_dim: int):
        super().__init__()
        self.transform = GroupConv2d(value_dim + hidden_dim, 3 * hidden_dim, kernel_size=3, padding=1)
        nn.init.xavier_normal_(self.transform.weight)

    def forward(self, g: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """``g [B, K, Cv, h, w]``, ``hidden [B, K, Ch, h, w]`` -> new hidden ``[B, K, Ch, h, w]``."""
        return _gated_update(self.transform(torch.cat([g, hidden], dim=2)), hidden)


class HiddenUpdate(nn.Module):
    """The decoder's update of the sensory memory from its features at strides 16, 8 and 4.

    The three scales are mapped to ``mid_dim`` channels by 1x1 convolutions
    (strides 8 and 4 first area-downsampled to stride 16) and summed.
    """

    def __init__(self, g_dims: tuple[int, int, int], mid_dim: int, hidden_dim: int):
        super().__init__()
        self.g16_conv = GroupConv2d(g_dims[0], mid_dim, kernel_size=1)
        self.g8_conv = GroupConv2d(g_dims[1], mid_dim, kernel_size=1)
        self.g4_conv = GroupConv2d(g_dims[2], mid_dim, kernel_size=1)
        self.transform = GroupConv2d(mid_dim + hidden_dim, 3 * hidden_dim, kernel_size=3, padding=1)
        nn.init.xavier_normal_(self.transform.weight)

    def forward(self, g16: torch.Tensor, g8: torch.Tensor, g4: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """``g16 [B, K, C, h, w]``, ``g8 [.., 2h, 2w]``, ``g4 [.., 4h, 4w]``, ``hidden [B, K, Ch, h, w]`` -> new."""
        g = (self.g16_conv(g16) + self.g8_conv(_resize(g8, 1 / 2, "area"))
             + self.g4_conv(_resize(g4, 1 / 4, "area")))
        return _gated_update(self.transform(torch.cat([g, hidden], dim=2)), hidden)


# ----------------------------------------------------------------- encoders
class KeyEncoder(nn.Module):
    """The key encoder: a ResNet to stride 16 on the frame; returns ``f16, f8, f4``."""

    def __init__(self, backbone: str):
        super().__init__()
        trunk = ResNet(BACKBONES[backbone], num_stages=3)
        self.conv1, self.bn1, self.relu, self.maxpool = trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool
        self.res2, self.layer2, self.layer3 = trunk.layer1, trunk.layer2, trunk.layer3  # XMem's names

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``frame [N, 3, H, W]`` (normalised) -> ``f16 [N, C16, H/16, W/16]``, ``f8``, ``f4``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(frame))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        return self.layer3(f8), f8, f4


class KeyProjection(nn.Module):
    """Key, shrinkage and selection heads on ``f16`` (3x3 convolutions).

    ``shrinkage = d_proj(f16)^2 + 1`` (``>= 1``), ``selection = sigmoid(e_proj(f16))``.
    """

    def __init__(self, in_dim: int, key_dim: int):
        super().__init__()
        self.key_proj = nn.Conv2d(in_dim, key_dim, kernel_size=3, padding=1)
        self.d_proj = nn.Conv2d(in_dim, 1, kernel_size=3, padding=1)
        self.e_proj = nn.Conv2d(in_dim, key_dim, kernel_size=3, padding=1)
        nn.init.orthogonal_(self.key_proj.weight)
        nn.init.zeros_(self.key_proj.bias)

    def forward(self, f16: torch.Tensor, need_shrinkage: bool, need_selection: bool
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``f16 [N, C16, h, w]`` -> key ``[N, Ck, h, w]``, shrinkage ``[N, 1, h, w]``, selection ``[N, Ck, h, w]``."""
        shrinkage = self.d_proj(f16) ** 2 + 1 if need_shrinkage else None
        selection = torch.sigmoid(self.e_proj(f16)) if need_selection else None
        return self.key_proj(f16), shrinkage, selection


class ValueEncoder(nn.Module):
    """The value encoder: a ResNet on ``[frame, own mask, other objects' masks]``, fused with ``f16``.

    Its first convolution takes 5 channels.  Followed by :class:`FeatureFusion`
    with the key encoder's ``f16`` and, on a deep update, the sensory memory's
    :class:`HiddenReinforce`.
    """

    def __init__(self, config: XMemConfig, f16_dim: int):
        super().__init__()
        trunk = ResNet(BACKBONES[config.value_backbone], num_stages=3)
        stem = trunk.conv1.out_channels
        self.conv1 = nn.Conv2d(5, stem, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.bn1, self.relu, self.maxpool = trunk.bn1, trunk.relu, trunk.maxpool
        self.layer1, self.layer2, self.layer3 = trunk.layer1, trunk.layer2, trunk.layer3
        g16_dim = BACKBONES[config.value_backbone].channels(3)
        self.fuser = FeatureFusion(f16_dim, g16_dim, config.value_dim, config.value_dim)
        self.hidden_reinforce = HiddenReinforce(config.value_dim, config.hidden_dim) if config.hidden_dim else None

    def forward(self, frame: torch.Tensor, f16: torch.Tensor, hidden: torch.Tensor | None, masks: torch.Tensor,
                others: torch.Tensor, deep_update: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encode every object.

        Args:
            frame: ``[B, 3, H, W]`` normalised.
            f16: ``[B, C16, h, w]`` the key encoder's features of ``frame``.
            hidden: ``[B, K, Ch, h, w]`` sensory memory (``None`` without one).
            masks: ``[B, K, H, W]`` each object's probability.
            others: ``[B, K, H, W]`` the sum of the other objects' probabilities.
            deep_update: update the sensory memory from the new values.

        Returns:
            values ``[B, K, Cv, h, w]`` and the sensory memory (updated on a deep
            update, else ``hidden`` itself).
        """
        g = _with_frame(frame, torch.stack([masks, others], dim=2))  # [B, K, 5, H, W]
        # XMem pools before the ReLU; both are monotone, so the order does not change the result
        g = _flat(lambda t: self.relu(self.maxpool(self.bn1(self.conv1(t)))), g)
        g = _flat(lambda t: self.layer3(self.layer2(self.layer1(t))), g)
        g = self.fuser(f16, g)
        if deep_update and self.hidden_reinforce is not None:
            hidden = self.hidden_reinforce(g, hidden)
        return g, hidden


# ------------------------------------------------------------------ decoder
class UpsampleBlock(nn.Module):
    """``out_conv(up2(g) + skip_conv(skip))``: one decoder stage, stride ``s`` -> ``s/2``."""

    def __init__(self, skip_dim: int, up_dim: int, out_dim: int):
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_dim, up_dim, kernel_size=3, padding=1)
        self.out_conv = GroupResBlock(up_dim, out_dim)

    def forward(self, skip: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``skip [B, Cs, 2h, 2w]``, ``g [B, K, up_dim, h, w]`` -> ``[B, K, out_dim, 2h, 2w]``."""
        return self.out_conv(self.skip_conv(skip)[:, None] + _resize(g, 2, "bilinear"))


class Decoder(nn.Module):
    """Fuses ``f16`` with the read-out and sensory memory, upsamples with ``f8``, ``f4``, predicts one logit.

    Args:
        config: the architecture.
        f_dims: the key encoder's channels ``(C16, C8, C4)``.
    """

    def __init__(self, config: XMemConfig, f_dims: tuple[int, int, int]):
        super().__init__()
        d16, d8, d4 = config.decoder_dims
        self.fuser = FeatureFusion(f_dims[0], config.value_dim + config.hidden_dim, d16, d16)
        self.hidden_update = (HiddenUpdate((d16, d8, d4 + 1), config.hidden_update_dim, config.hidden_dim)
                              if config.hidden_dim else None)
        self.up_16_8 = UpsampleBlock(f_dims[1], d16, d8)
        self.up_8_4 = UpsampleBlock(f_dims[2], d8, d4)
        self.pred = nn.Conv2d(d4, 1, kernel_size=3, padding=1)

    def forward(self, f16: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor, hidden: torch.Tensor | None,
                memory_readout: torch.Tensor, h_out: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Decode every object.

        Args:
            f16, f8, f4: ``[B, C16, h, w]``, ``[B, C8, 2h, 2w]``, ``[B, C4, 4h, 4w]``.
            hidden: ``[B, K, Ch, h, w]`` sensory memory (ignored without one).
            memory_readout: ``[B, K, Cv, h, w]`` the memory read-out.
            h_out: also compute the updated sensory memory.

        Returns:
            the new sensory memory ``[B, K, Ch, h, w]`` (``None`` when not
            asked for or absent) and logits ``[B, K, H, W]`` (``H = 16h``).
        """
        g = memory_readout if self.hidden_update is None else torch.cat([memory_readout, hidden], dim=2)
        g16 = self.fuser(f16, g)
        g8 = self.up_16_8(f8, g16)
        g4 = self.up_8_4(f4, g8)
        logits = _flat(lambda t: self.pred(F.relu(t)), g4)  # [B, K, 1, 4h, 4w]
        new_hidden = None
        if h_out and self.hidden_update is not None:
            new_hidden = self.hidden_update(g16, g8, torch.cat([g4, logits], dim=2), hidden)
        logits = _resize(logits, 4, "bilinear")[:, :, 0]
        return new_hidden, logits


# ------------------------------------------------- the interface's states
def _expand(t: torch.Tensor | None, batch: int) -> torch.Tensor | None:
    return None if t is None else t.expand(batch, *t.shape[1:])


def _detach(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach()


@dataclass
class XMemQuery:
    """What :meth:`XMem.segment` needs from a query frame; none of it depends on a mask.

    Attributes:
        key: ``[B, Ck, h, w]``; selection: ``[B, Ck, h, w]`` (``None`` without one).
        f16, f8, f4: the key encoder's features ``[B, C16, h, w]``, ``[B, C8, 2h, 2w]``, ``[B, C4, 4h, 4w]``.
        pad: ``(left, right, top, bottom)`` zeros added around the frame.
    """

    key: torch.Tensor
    selection: torch.Tensor | None
    f16: torch.Tensor
    f8: torch.Tensor
    f4: torch.Tensor
    pad: tuple[int, int, int, int]

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.key.shape[-2:])  # type: ignore[return-value]

    def expand(self, batch: int) -> "XMemQuery":
        """Broadcast a single frame's features (``B == 1``) to ``batch`` frames without copying."""
        return replace(self, key=_expand(self.key, batch), selection=_expand(self.selection, batch),
                       f16=_expand(self.f16, batch), f8=_expand(self.f8, batch), f4=_expand(self.f4, batch))

    def detach(self) -> "XMemQuery":
        return replace(self, key=self.key.detach(), selection=_detach(self.selection), f16=self.f16.detach(),
                       f8=self.f8.detach(), f4=self.f4.detach())


@dataclass
class XMemStem:
    """The mask-independent part of memorising frames: the prepared frame and its key encoding.

    Attributes:
        image: ``[B, 3, H, W]`` normalised and padded; key: ``[B, Ck, h, w]``;
        shrinkage: ``[B, 1, h, w]`` (``None`` without one); f16: ``[B, C16, h, w]``.
    """

    image: torch.Tensor
    key: torch.Tensor
    shrinkage: torch.Tensor | None
    f16: torch.Tensor


@dataclass
class XMemFrames:
    """Memorised frames of XMem: keys and shrinkage shared by the objects, values and sensory memory per object.

    Attributes:
        keys: ``[B, Ck, T, h, w]``; shrinkage: ``[B, 1, T, h, w]`` (``None`` without one).
        values: ``[B, K, Cv, T, h, w]``.
        hidden: ``[B, K, Ch, h, w]`` the sensory memory a query is decoded with
            (``None`` when the network has none).
    """

    keys: torch.Tensor
    shrinkage: torch.Tensor | None
    values: torch.Tensor
    hidden: torch.Tensor | None

    @property
    def batch(self) -> int:
        return self.keys.shape[0]

    @property
    def num_frames(self) -> int:
        return self.keys.shape[2]

    @property
    def num_objects(self) -> int:
        return self.values.shape[1]

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.keys.shape[-2:])  # type: ignore[return-value]

    @staticmethod
    def cat(entries: list["XMemFrames"]) -> "XMemFrames":
        """Concatenate along time; the sensory memory is the last entry's (the most recent frame's)."""
        if len(entries) == 1:
            return entries[0]
        shrinkage = (None if entries[0].shrinkage is None
                     else torch.cat([e.shrinkage for e in entries], dim=2))  # type: ignore[misc]
        return XMemFrames(torch.cat([e.keys for e in entries], dim=2), shrinkage,
                          torch.cat([e.values for e in entries], dim=3), entries[-1].hidden)

    def select(self, index: torch.Tensor | list[int]) -> "XMemFrames":
        """Keep the object slots ``index``."""
        index = torch.as_tensor(index, device=self.values.device, dtype=torch.long)
        hidden = None if self.hidden is None else self.hidden.index_select(1, index)
        return replace(self, values=self.values.index_select(1, index), hidden=hidden)

    def without(self, frame: int) -> "XMemFrames":
        """The memory with memory frame ``frame`` (0-based, along ``T``) left out (the sensory memory stays)."""
        keep = [t for t in range(self.num_frames) if t != frame]
        shrinkage = None if self.shrinkage is None else self.shrinkage[:, :, keep]
        return replace(self, keys=self.keys[:, :, keep], shrinkage=shrinkage, values=self.values[:, :, :, keep])

    def expand(self, batch: int) -> "XMemFrames":
        """A batch-1 memory repeated to ``batch`` elements (a view)."""
        return XMemFrames(_expand(self.keys, batch), _expand(self.shrinkage, batch),  # type: ignore[arg-type]
                          _expand(self.values, batch), _expand(self.hidden, batch))  # type: ignore[arg-type]

    def detach(self) -> "XMemFrames":
        return XMemFrames(self.keys.detach(), _detach(self.shrinkage), self.values.detach(), _detach(self.hidden))


# -------------------------------------------------------------------- XMem
class XMem(nn.Module, MemoryModel):
    """The XMem network.

    Build one with :func:`erfkit.build_model` (``"xmem"``, ``"xmem-tiny"``) or
    load the released weights with :func:`erfkit.load_checkpoint`.  One step of
    XMem's inference (batch 1, ``K`` objects)::

        x, pad = model.prepare_frame(rgb)                   # [1, 3, H, W] in [0, 1] -> normalised, padded
        key, shrinkage, selection, f16, f8, f4 = model.encode_key(x)
        hidden = model.empty_hidden(1, K, key.shape[-2:])   # once, when the objects appear
        readout = ...                                       # [1, K, Cv, h, w] from the memory manager
        hidden, logits, prob = model.decode((f16, f8, f4), readout, hidden, strip_bg=False)
        value, hidden = model.encode_value(x, f16, hidden, prob[:, 1:])   # a memory frame
        prob = unpad(prob, pad)                             # [1, K+1, H0, W0]

    Attributes:
        config: the architecture.
        checkpoint: what is known about the checkpoint the weights came from
            (set by :func:`~erfkit.model.checkpoint.load_checkpoint`); ``None``
            for a model built in memory.
        propagator: the predictor that runs this network on videos, XMem's
            inference with XMem's memory policy, named by import path (the
            model layer does not import the inference layer):
            :class:`erfkit.VideoPredictor` builds it when given an XMem.
    """

    checkpoint: "CheckpointInfo | None" = None
    family = "xmem"
    propagator = "erfkit.inference.xmem_predictor:XMemPredictor"
    #: how many memory cells each query cell keeps in the interface's read (XMem's evaluation default;
    #: ``None`` reads all, as XMem trains).  XMemPredictor reads with its own setting.
    top_k: int | None = 30

    def __init__(self, config: XMemConfig | None = None):
        super().__init__()
        self.config = config = config or XMemConfig()
        kb = BACKBONES[config.key_backbone]
        f_dims = (kb.channels(3), kb.channels(2), kb.channels(1))
        self.key_encoder = KeyEncoder(config.key_backbone)
        self.value_encoder = ValueEncoder(config, f_dims[0])
        self.key_proj = KeyProjection(f_dims[0], config.key_dim)
        self.decoder = Decoder(config, f_dims)
        # not in the state dict: XMem's weights carry no normalisation
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    # ------------------------------------------------------------- frames
    def normalise(self, frame: torch.Tensor) -> torch.Tensor:
        """ImageNet normalisation of RGB frames ``[..., 3, H, W]`` in ``[0, 1]`` (XMem's data readers)."""
        return (frame - self.mean.to(frame.dtype)) / self.std.to(frame.dtype)

    def prepare_frame(self, frame: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """A frame as XMem's network takes it: normalised, then zero-padded to a multiple of 16, centred.

        Args:
            frame: ``[B, 3, H0, W0]`` RGB in ``[0, 1]`` (already resized, if at all).

        Returns:
            ``[B, 3, H, W]`` and the padding ``(left, right, top, bottom)`` for
            :func:`unpad`.  Masks given with the frame are padded with
            :func:`erfkit.model.stm.pad_to_multiple` (zeros, the same padding).
        """
        return pad_to_multiple(self.normalise(frame), self.config.size_multiple)

    def empty_hidden(self, batch: int, num_objects: int, size: tuple[int, int]) -> torch.Tensor:
        """A zero sensory memory ``[B, K, Ch, h, w]`` for new objects (``size = (h, w)``, stride 16)."""
        p = self.key_proj.key_proj.weight
        return p.new_zeros(batch, num_objects, self.config.hidden_dim, *size)

    # --------------------------------------------------------- operations
    def encode_key(self, frame: torch.Tensor, need_sk: bool = True, need_ek: bool = True) -> KeyFeatures:
        """Key and multi-scale features of frames.

        Args:
            frame: ``[B, 3, H, W]``, or ``[B, T, 3, H, W]`` (a clip, as XMem trains), normalised.
            need_sk: compute the shrinkage (memory frames need it).
            need_ek: compute the selection (the query of a read needs it).

        Returns:
            ``key [B, Ck, h, w]``, ``shrinkage [B, 1, h, w]`` (or ``None``),
            ``selection [B, Ck, h, w]`` (or ``None``), ``f16 [B, C16, h, w]``,
            ``f8 [B, C8, 2h, 2w]``, ``f4 [B, C4, 4h, 4w]``.  For a clip the
            key, shrinkage and selection are ``[B, C, T, h, w]`` and the
            features ``[B, T, C, h, w]`` (XMem's layouts).
        """
        if frame.dim() == 5:
            b, t = frame.shape[:2]
            key, shrinkage, selection, f16, f8, f4 = self.encode_key(frame.flatten(0, 1), need_sk, need_ek)

            def channels_first(x: torch.Tensor | None) -> torch.Tensor | None:
                return None if x is None else x.view(b, t, *x.shape[1:]).transpose(1, 2).contiguous()

            def per_frame(x: torch.Tensor) -> torch.Tensor:
                return x.view(b, t, *x.shape[1:])

            return (channels_first(key), channels_first(shrinkage), channels_first(selection),
                    per_frame(f16), per_frame(f8), per_frame(f4))
        if frame.dim() != 4:
            raise ValueError(f"frame must be [B, 3, H, W] or [B, T, 3, H, W], not {tuple(frame.shape)}")
        f16, f8, f4 = self.key_encoder(frame)
        key, shrinkage, selection = self.key_proj(f16, need_sk, need_ek)
        return key, shrinkage, selection, f16, f8, f4

    def encode_value(self, frame: torch.Tensor, image_feat_f16: torch.Tensor, hidden_state: torch.Tensor | None,
                     masks: torch.Tensor, is_deep_update: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Values of every object of a frame, and its sensory memory after a deep update.

        Args:
            frame: ``[B, 3, H, W]`` normalised.
            image_feat_f16: ``[B, C16, h, w]`` from :meth:`encode_key` of the same frame.
            hidden_state: ``[B, K, Ch, h, w]`` the sensory memory (``None`` when ``hidden_dim == 0``).
            masks: ``[B, K, H, W]`` each object's probability (no background).
            is_deep_update: update the sensory memory from the new values.

        Returns:
            value ``[B, K, Cv, h, w]`` and the sensory memory ``[B, K, Ch, h, w]``
            (``hidden_state`` itself without a deep update).
        """
        if masks.shape[1] > 1:
            others = masks.sum(dim=1, keepdim=True) - masks  # the sum of the OTHER objects' masks
        else:
            others = torch.zeros_like(masks)
        return self.value_encoder(frame, image_feat_f16, hidden_state, masks, others, is_deep_update)

    def read_memory(self, query_key: torch.Tensor, query_selection: torch.Tensor | None, memory_key: torch.Tensor,
                    memory_shrinkage: torch.Tensor | None, memory_value: torch.Tensor,
                    top_k: int | None = None) -> torch.Tensor:
        """Read the memory for every object (XMem's training read: all objects share one affinity).

        Args:
            query_key: ``[B, Ck, h, w]``; query_selection: ``[B, Ck, h, w]`` or ``None``.
            memory_key: ``[B, Ck, T, h, w]``; memory_shrinkage: ``[B, 1, T, h, w]`` or ``None``.
            memory_value: ``[B, K, Cv, T, h, w]``.
            top_k: keep each query pixel's ``top_k`` memory elements (``None``: all, as XMem trains).

        Returns:
            the read-out ``[B, K, Cv, h, w]``.
        """
        b, k, cv = memory_value.shape[:3]
        weights = affinity(memory_key, memory_shrinkage, query_key, query_selection, top_k)
        out = readout(weights, memory_value.flatten(1, 2).flatten(2))
        return out.view(b, k, cv, *query_key.shape[-2:])

    def decode(self, multi_scale_features: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
               memory_readout: torch.Tensor, hidden_state: torch.Tensor | None, selector: torch.Tensor | None = None,
               h_out: bool = True, strip_bg: bool = True) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Decode every object and merge them by soft aggregation (XMem's ``segment``).

        Args:
            multi_scale_features: ``(f16, f8, f4)`` from :meth:`encode_key`.
            memory_readout: ``[B, K, Cv, h, w]``.
            hidden_state: ``[B, K, Ch, h, w]`` (``None`` when ``hidden_dim == 0``).
            selector: multiplies each object's probability before the
                aggregation (e.g. ``[B, K, 1, 1]``, 0 for absent objects).
            h_out: compute the updated sensory memory.
            strip_bg: return the probabilities without the background channel.

        Returns:
            ``hidden`` ``[B, K, Ch, h, w]`` (``None`` unless ``h_out``),
            ``logits [B, K+1, H, W]`` after aggregation (channel 0 the
            background) and ``prob = softmax(logits)``: ``[B, K, H, W]`` with
            ``strip_bg``, else ``[B, K+1, H, W]``.
        """
        hidden, object_logits = self.decoder(*multi_scale_features, hidden_state, memory_readout, h_out=h_out)
        prob = torch.sigmoid(object_logits)
        if selector is not None:
            prob = prob * selector
        logits = soft_aggregate(prob)
        prob = torch.softmax(logits, dim=1)
        return hidden, logits, prob[:, 1:] if strip_bg else prob

    # ------------------------------------------- the memory-model interface
    def memory_stem(self, frame: torch.Tensor) -> XMemStem:
        """The frame prepared and key-encoded (``frame [B, 3, H, W]`` RGB in ``[0, 1]``)."""
        image, _ = self.prepare_frame(frame)
        key, shrinkage, _, f16, _, _ = self.encode_key(image, need_sk=True, need_ek=False)
        return XMemStem(image, key, shrinkage, f16)

    def memorize(self, frame: torch.Tensor, masks: torch.Tensor, *, stem: XMemStem | None = None) -> XMemFrames:
        """Memorise frames alone, as XMem's inference memorises a video's first frame.

        The key and shrinkage come from the key encoder, each object's value
        from the value encoder with its own mask and the sum of the others',
        and the sensory memory from the value's deep update of an empty one
        (XMem's first frame: a new object's sensory memory starts at zero and
        is deep-updated when the frame is memorised).  So segmenting frame
        ``t`` from ``memorize(x_l, y_l)`` is what XMem computes for ``t`` in the
        two-frame video ``(l, t)`` given ``y_l``; the mask reaches the output
        through the values and through the sensory memory.

        Args:
            frame: ``[B, 3, H, W]`` RGB in ``[0, 1]``.
            masks: ``[B, K+1, H, W]`` probabilities (channel 0 not used), as the value encoder takes them.
            stem: optional cached :meth:`memory_stem` of ``frame``.

        Returns:
            :class:`XMemFrames` with ``T == 1``.
        """
        if masks.shape[-2:] != frame.shape[-2:]:
            raise ValueError(f"masks {tuple(masks.shape[-2:])} and frame {tuple(frame.shape[-2:])} differ in size")
        stem = stem if stem is not None else self.memory_stem(frame)
        objects, _ = pad_to_multiple(masks[:, 1:], self.config.size_multiple)
        B, K = objects.shape[:2]
        hidden = self.empty_hidden(B, K, tuple(stem.key.shape[-2:])) if self.config.hidden_dim else None
        value, hidden = self.encode_value(stem.image, stem.f16, hidden, objects, is_deep_update=True)
        shrinkage = None if stem.shrinkage is None else stem.shrinkage[:, :, None]
        return XMemFrames(stem.key[:, :, None], shrinkage, value[:, :, :, None], hidden)

    def encode_query(self, frame: torch.Tensor) -> XMemQuery:
        """Everything :meth:`segment` needs from ``frame [B, 3, H, W]`` (RGB in ``[0, 1]``)."""
        image, pad = self.prepare_frame(frame)
        key, _, selection, f16, f8, f4 = self.encode_key(image, need_sk=False, need_ek=True)
        return XMemQuery(key, selection, f16, f8, f4, pad)

    def _query_for(self, frame: torch.Tensor | XMemQuery, memory: XMemFrames) -> XMemQuery:
        q = frame if isinstance(frame, XMemQuery) else self.encode_query(frame)
        B = memory.batch
        if q.key.shape[0] != B:
            if q.key.shape[0] != 1:
                raise ValueError(f"query batch {q.key.shape[0]} does not match memory batch {B}")
            q = q.expand(B)
        if q.grid != memory.grid:
            raise ValueError(f"query features {q.grid} and memory {memory.grid} come from frames of different sizes")
        return q

    def memory_weights(self, memory: XMemFrames, query: XMemQuery) -> torch.Tensor:
        """The read's weights ``[B, K, T*h*w, h*w]``: XMem's affinity, top-:attr:`top_k`, shared by the objects."""
        weights = affinity(memory.keys, memory.shrinkage, query.key, query.selection, self.top_k)
        return weights[:, None].expand(memory.batch, memory.num_objects, *weights.shape[1:])

    def object_logits(self, frame: torch.Tensor | XMemQuery, memory: XMemFrames) -> torch.Tensor:
        """Read (top-:attr:`top_k`) and decode with the memory's sensory memory: ``[B, K, H, W]`` logits."""
        q = self._query_for(frame, memory)
        B, K, Cv = memory.values.shape[:3]
        weights = affinity(memory.keys, memory.shrinkage, q.key, q.selection, self.top_k)  # [B, THW, hw]
        read = readout(weights[:, None], memory.values.flatten(3)).view(B, K, Cv, *q.grid)
        _, logits = self.decoder(q.f16, q.f8, q.f4, memory.hidden, read, h_out=False)
        return unpad(logits, q.pad)

    def attribution_layer(self, side: Side) -> str:
        """Grad-CAM's layer: the query's stride-4 features as the decoder takes them, or the value encoder's stride 8.

        (The decoder's later layers hold every object in one ``[B, K, ...]``
        tensor, which Grad-CAM cannot read as channels.)
        """
        return "decoder.up_8_4.skip_conv" if side == "query" else "value_encoder.layer2"

    def forward(self, mode: str, *args: Any, **kwargs: Any) -> Any:
        """XMem's dispatch (for wrappers such as ``DistributedDataParallel``): ``mode`` names the method.

        ``mode`` is ``"encode_key"``, ``"encode_value"``, ``"read_memory"`` or ``"segment"``
        (XMem's name of :meth:`decode`).
        """
        if mode not in ("encode_key", "encode_value", "read_memory", "segment"):
            raise ValueError(f"unknown mode {mode!r}")
        return getattr(self, "decode" if mode == "segment" else mode)(*args, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
