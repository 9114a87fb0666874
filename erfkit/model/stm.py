"""The Space-Time Memory network (Oh et al., ICCV 2019) as the paper uses it.

Module and parameter names follow the released STM weights (``Encoder_M``,
``Encoder_Q``, ``KV_M_r4``, ``KV_Q_r4``, ``Decoder``; inside the encoders the
ResNet stages are ``res2``..``res4``), so released and re-trained checkpoints
load by name (see :mod:`erfkit.model.checkpoint`).

The two entry points are :meth:`STM.memorize` and :meth:`STM.segment`.  Frames
are RGB in ``[0, 1]``; the encoders normalise them with their ``mean``/``std``
buffers.  Any frame size works: frames are padded to a multiple of 16 (centred,
zeros, as the original) and outputs are cropped back.

Shapes: ``B`` frames, ``K`` object slots, ``H x W`` the frame, ``h x w`` its
stride-16 feature map, ``T`` memory frames, ``Ck``/``Cv`` key/value channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .memory_model import MemoryModel, soft_aggregate
from .efficientnet import LITE0_MEAN, LITE0_STD, EfficientNetLite, SameConv2d
from .presets import LITE0_STAGES, ModelConfig, encoder_channels
from .resnet import BACKBONES, ResNet

if TYPE_CHECKING:
    from .info import CheckpointInfo

__all__ = ["STM", "Memory", "QueryFeatures", "soft_aggregate", "pad_to_multiple", "read_memory", "memory_weights"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pad the last two dims of ``x`` to multiples of ``multiple``, centred.

    Returns:
        the padded tensor and ``(left, right, top, bottom)``.
    """
    h, w = x.shape[-2:]
    ph = (-h) % multiple
    pw = (-w) % multiple
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if ph or pw:
        x = F.pad(x, pad)
    return x, pad


def _crop(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


@dataclass
class Memory:
    """Keys and values of memorised frames, per object.

    Attributes:
        keys: ``[B, K, Ck, T, h, w]``.
        values: ``[B, K, Cv, T, h, w]``.
        time_mask: ``[B, K, T]`` bool, ``False`` where object ``k`` must not
            read frame ``t`` (e.g. a frame memorised before the object
            appeared); ``None`` means all entries are readable.
    """

    keys: torch.Tensor
    values: torch.Tensor
    time_mask: torch.Tensor | None = None

    @property
    def batch(self) -> int:
        return self.keys.shape[0]

    @property
    def num_frames(self) -> int:
        return self.keys.shape[3]

    @property
    def num_objects(self) -> int:
        return self.keys.shape[1]

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.keys.shape[-2:])  # type: ignore[return-value]

    def without(self, frame: int) -> "Memory":
        """The memory with memory frame ``frame`` (0-based, along ``T``) left out."""
        keep = [t for t in range(self.num_frames) if t != frame]
        tm = None if self.time_mask is None else self.time_mask[:, :, keep]
        return Memory(self.keys[:, :, :, keep], self.values[:, :, :, keep], tm)

    def expand(self, batch: int) -> "Memory":
        """A batch-1 memory repeated to ``batch`` elements (a view)."""
        tm = None if self.time_mask is None else self.time_mask.expand(batch, *self.time_mask.shape[1:])
        return Memory(self.keys.expand(batch, *self.keys.shape[1:]), self.values.expand(batch, *self.values.shape[1:]),
                      tm)

    @staticmethod
    def cat(entries: list["Memory"]) -> "Memory":
        """Concatenate memories along time (all must have the same ``B, K``)."""
        if len(entries) == 1:
            return entries[0]
        keys = torch.cat([e.keys for e in entries], dim=3)
        values = torch.cat([e.values for e in entries], dim=3)
        if all(e.time_mask is None for e in entries):
            return Memory(keys, values)
        masks = [
            e.time_mask if e.time_mask is not None else e.keys.new_ones(e.keys.shape[:2] + (e.keys.shape[3],), dtype=torch.bool)
            for e in entries
        ]
        return Memory(keys, values, torch.cat(masks, dim=2))

    def select(self, index: torch.Tensor | list[int]) -> "Memory":
        """Keep the object slots ``index`` (along K)."""
        index = torch.as_tensor(index, device=self.keys.device, dtype=torch.long)
        tm = None if self.time_mask is None else self.time_mask.index_select(1, index)
        return Memory(self.keys.index_select(1, index), self.values.index_select(1, index), tm)

    def detach(self) -> "Memory":
        tm = self.time_mask
        return Memory(self.keys.detach(), self.values.detach(), tm)


@dataclass
class QueryFeatures:
    """What :meth:`STM.segment` needs from a query frame; none of it depends on a mask.

    Computing these once and reusing them is what makes gradient correction
    and cycle-ERF cheap (the query frame is the same at every step).

    Attributes:
        key: ``[B, Ck, h, w]``; value: ``[B, Cv, h, w]``.
        skip3: ``[B, C, 2h, 2w]`` and skip2: ``[B, C, 4h, 4w]``, the decoder's
            refine branches on the query's res3/res2 features.
        pad: padding applied to the frame, ``(left, right, top, bottom)``.
    """

    key: torch.Tensor
    value: torch.Tensor
    skip3: torch.Tensor
    skip2: torch.Tensor
    pad: tuple[int, int, int, int] = field(default=(0, 0, 0, 0))

    def expand(self, batch: int) -> "QueryFeatures":
        """Broadcast a single frame's features (``B == 1``) to ``batch`` frames without copying."""
        def e(t: torch.Tensor) -> torch.Tensor:
            return t.expand(batch, *t.shape[1:])

        return replace(self, key=e(self.key), value=e(self.value), skip3=e(self.skip3), skip2=e(self.skip2))

    def detach(self) -> "QueryFeatures":
        return replace(self, key=self.key.detach(), value=self.value.detach(),
                       skip3=self.skip3.detach(), skip2=self.skip2.detach())

    @property
    def grid(self) -> tuple[int, int]:
        """``(h, w)``, the stride-16 grid of the padded frame."""
        return tuple(self.key.shape[-2:])  # type: ignore[return-value]


def memory_weights(memory: Memory, query_key: torch.Tensor) -> torch.Tensor:
    """The memory read's attention: ``softmax_over_memory(mem_k^T q_k / sqrt(Ck))``.

    Args:
        memory: keys ``[B, K, Ck, T, h, w]`` (and its ``time_mask``).
        query_key: ``[B, Ck, h, w]``.

    Returns:
        ``[B, K, T*h*w, h*w]``: column ``j`` is the distribution over every
        memory cell ``(t, y, x)`` that query cell ``j`` reads (it sums to 1; an
        object with no readable memory frame has a zero column).
    """
    B, K, Ck, T, h, w = memory.keys.shape
    mk = memory.keys.reshape(B, K, Ck, T * h * w).transpose(-1, -2)  # [B, K, THW, Ck]
    qk = query_key.reshape(B, 1, Ck, h * w)
    affinity = torch.matmul(mk, qk) / math.sqrt(Ck)  # [B, K, THW, HW]
    if memory.time_mask is not None and not bool(memory.time_mask.all()):
        allowed = memory.time_mask[:, :, :, None].expand(B, K, T, h * w).reshape(B, K, T * h * w, 1)
        affinity = affinity.masked_fill(~allowed, float("-inf"))
        return torch.nan_to_num(torch.softmax(affinity, dim=2), nan=0.0)  # objects with nothing to read
    return torch.softmax(affinity, dim=2)


def read_memory(memory: Memory, query_key: torch.Tensor, query_value: torch.Tensor) -> torch.Tensor:
    """Space-time memory read, for every object slot.

    ``p = softmax_over_memory(mem_k^T q_k / sqrt(Ck))`` (:func:`memory_weights`), ``read = mem_v p``.

    Args:
        memory: keys ``[B, K, Ck, T, h, w]`` and values ``[B, K, Cv, T, h, w]``.
        query_key: ``[B, Ck, h, w]``; query_value: ``[B, Cv, h, w]``.

    Returns:
        ``[B, K, 2*Cv, h, w]``: the read-out concatenated with the query value.
        An object with no readable memory frame reads zeros.
    """
    B, K, Ck, T, h, w = memory.keys.shape
    Cv = memory.values.shape[2]
    p = memory_weights(memory, query_key)
    mv = memory.values.reshape(B, K, Cv, T * h * w)
    read = torch.matmul(mv, p).reshape(B, K, Cv, h, w)
    return torch.cat([read, query_value[:, None].expand(B, K, Cv, h, w)], dim=2)


class _Normalise(nn.Module):
    """Holds the input normalisation (``mean``/``std`` buffers, ``[1, 3, 1, 1]``) of an encoder."""

    def __init__(self, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def normalise(self, frame: torch.Tensor) -> torch.Tensor:
        return (frame - self.mean) / self.std


def _mask_stem(masks: torch.Tensor, mask_conv: nn.Conv2d, extra_conv: nn.Conv2d, extra_input: str,
               stem: torch.Tensor, same: bool) -> torch.Tensor:
    """``stem + mask_conv(mask) + extra_conv(extra)`` for every object: ``[B, K, H, W]`` -> ``[B*K, C, H/2, W/2]``.

    ``extra`` is the union of the other objects' masks (``"other"``) or ``1 - mask``
    (``"background"``).  The two mask convolutions run as ONE convolution over the two
    stacked channels: the same sum, and on a CPU about twice as fast to differentiate.
    ``same``: TensorFlow "same" padding (EfficientNet) instead of the convolution's own.
    """
    B, K, H, W = masks.shape
    if extra_input == "other":
        extra = (masks.sum(dim=1, keepdim=True) - masks).clamp(0, 1)
    else:
        extra = (1 - masks).clamp(0, 1)
    x = torch.stack([masks, extra], dim=2).reshape(B * K, 2, H, W)
    weight = torch.cat([mask_conv.weight, extra_conv.weight], dim=1)
    if same:
        x = SameConv2d.pad_same(x, mask_conv.kernel_size[0], mask_conv.stride[0])
        x = F.conv2d(x, weight, stride=mask_conv.stride)
    else:
        x = F.conv2d(x, weight, stride=mask_conv.stride, padding=mask_conv.padding)
    x = x.view(B, K, *x.shape[1:]) + stem[:, None]
    return x.flatten(0, 1)


class EncoderM(_Normalise):
    """Memory encoder: ``conv1(frame) + conv1_m(mask) + conv1_{o|bg}(extra)``, then the ResNet to res4."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        trunk = ResNet(BACKBONES[config.backbone], num_stages=3)
        stem = trunk.conv1.out_channels
        self.extra_input = config.extra_input
        self.conv1_m = nn.Conv2d(1, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.extra_name = "conv1_o" if config.extra_input == "other" else "conv1_bg"
        setattr(self, self.extra_name, nn.Conv2d(1, stem, kernel_size=7, stride=2, padding=3, bias=False))
        self.conv1, self.bn1, self.relu, self.maxpool = trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool
        self.res2, self.res3, self.res4 = trunk.layer1, trunk.layer2, trunk.layer3

    def frame_stem(self, frame: torch.Tensor) -> torch.Tensor:
        """``conv1`` of the normalised frame ``[B, 3, H, W]`` -> ``[B, C, H/2, W/2]`` (mask-independent)."""
        return self.conv1(self.normalise(frame))

    #: the layer whose output is the stride-8 feature map (Grad-CAM's memory layer), by name
    stride8 = "res3"

    def forward(self, stem: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Encode every object of every frame.

        Args:
            stem: ``[B, C, H/2, W/2]`` from :meth:`frame_stem`.
            masks: ``[B, K, H, W]`` object probabilities.

        Returns:
            r4 ``[B*K, C4, H/16, W/16]``.
        """
        x = _mask_stem(masks, self.conv1_m, getattr(self, self.extra_name), self.extra_input, stem, same=False)
        x = self.maxpool(self.relu(self.bn1(x)))
        return self.res4(self.res3(self.res2(x)))


class EncoderQ(_Normalise):
    """Query encoder: the ResNet on the frame alone; returns r4, r3, r2."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        trunk = ResNet(BACKBONES[config.backbone], num_stages=3)
        self.conv1, self.bn1, self.relu, self.maxpool = trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool
        self.res2, self.res3, self.res4 = trunk.layer1, trunk.layer2, trunk.layer3

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.conv1(self.normalise(frame))
        x = self.maxpool(self.relu(self.bn1(x)))
        r2 = self.res2(x)
        r3 = self.res3(r2)
        r4 = self.res4(r3)
        return r4, r3, r2


class LiteEncoderM(_Normalise):
    """Memory encoder on EfficientNet-Lite0: ``stem(frame) + conv1_m(mask) + conv1_{o|bg}(extra)``, then blocks 0-10.

    The mask convolutions are 3x3, stride 2, like the stem they are added to, and
    start at zero: the ImageNet network sees the frame alone at first, as STM adds
    its mask convolutions to the ResNet's first convolution.
    """

    def __init__(self, config: ModelConfig):
        super().__init__(LITE0_MEAN, LITE0_STD)
        self.backbone = EfficientNetLite(LITE0_STAGES[-1] + 1)
        self.extra_input = config.extra_input
        self.extra_name = "conv1_o" if config.extra_input == "other" else "conv1_bg"
        for name in ("conv1_m", self.extra_name):
            conv = SameConv2d(1, 32, 3, stride=2, bias=False)
            nn.init.zeros_(conv.weight)
            setattr(self, name, conv)

    def frame_stem(self, frame: torch.Tensor) -> torch.Tensor:
        """The stem convolution of the normalised frame ``[B, 3, H, W]`` -> ``[B, 32, H/2, W/2]``."""
        return self.backbone.stem(self.normalise(frame))

    stride8 = f"backbone._blocks.{LITE0_STAGES[1]}"

    def forward(self, stem: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """``stem [B, 32, H/2, W/2]``, ``masks [B, K, H, W]`` -> ``[B*K, 112, H/16, W/16]``."""
        x = _mask_stem(masks, self.conv1_m, getattr(self, self.extra_name), self.extra_input, stem, same=True)
        return self.backbone.blocks(x)[-1]


class LiteEncoderQ(_Normalise):
    """Query encoder on EfficientNet-Lite0: returns blocks 10 (stride 16), 4 (stride 8) and 2 (stride 4)."""

    def __init__(self, config: ModelConfig):
        super().__init__(LITE0_MEAN, LITE0_STD)
        self.backbone = EfficientNetLite(LITE0_STAGES[-1] + 1)

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r2, r3, r4 = self.backbone.blocks(self.backbone.stem(self.normalise(frame)), keep=LITE0_STAGES[:2])
        return r4, r3, r2


class KeyValue(nn.Module):
    """Key and value heads: two 3x3 convolutions on r4."""

    def __init__(self, indim: int, keydim: int, valdim: int):
        super().__init__()
        self.Key = nn.Conv2d(indim, keydim, kernel_size=3, padding=1)
        self.Value = nn.Conv2d(indim, valdim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.Key(x), self.Value(x)


class ResBlock(nn.Module):
    """Pre-activation residual block of the decoder: ``x + conv2(relu(conv1(relu(x))))``."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class Refine(nn.Module):
    """Refine stage: ``ResMM(ResFS(convFS(skip)) + up2(m))``.

    The skip branch ``ResFS(convFS(skip))`` depends on the query frame only and is
    computed once per frame by :meth:`skip`; :meth:`forward` takes it ready.
    """

    def __init__(self, indim: int, dim: int):
        super().__init__()
        self.convFS = nn.Conv2d(indim, dim, kernel_size=3, padding=1)
        self.ResFS = ResBlock(dim)
        self.ResMM = ResBlock(dim)

    def skip(self, feat: torch.Tensor) -> torch.Tensor:
        return self.ResFS(self.convFS(feat))

    def forward(self, skip: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """``skip [B, C, 2h, 2w]`` broadcast over the K objects of ``m [B, K, C, h, w]`` -> ``[B, K, C, 2h, 2w]``."""
        B, K = m.shape[:2]
        up = F.interpolate(m.flatten(0, 1), scale_factor=2, mode="bilinear", align_corners=False)
        up = up.view(B, K, *up.shape[1:]) + skip[:, None]
        return self.ResMM(up.flatten(0, 1)).view(B, K, *up.shape[2:])


class Decoder(nn.Module):
    """``convFM`` + residual block at stride 16, two refine stages, ``pred2``, x4 upsampling."""

    def __init__(self, indim: int, r3dim: int, r2dim: int, dim: int):
        super().__init__()
        self.convFM = nn.Conv2d(indim, dim, kernel_size=3, padding=1)
        self.ResMM = ResBlock(dim)
        self.RF3 = Refine(r3dim, dim)
        self.RF2 = Refine(r2dim, dim)
        self.pred2 = nn.Conv2d(dim, 2, kernel_size=3, padding=1)

    def forward(self, read: torch.Tensor, skip3: torch.Tensor, skip2: torch.Tensor) -> torch.Tensor:
        """``read [B, K, 2Cv, h, w]`` -> two-class logits ``[B, K, 2, 4h, 4w]`` (stride 4, before upsampling)."""
        B, K = read.shape[:2]
        m4 = self.ResMM(self.convFM(read.flatten(0, 1)))
        m3 = self.RF3(skip3, m4.view(B, K, *m4.shape[1:]))
        m2 = self.RF2(skip2, m3)
        p2 = self.pred2(F.relu(m2.flatten(0, 1)))
        return p2.view(B, K, *p2.shape[1:])

    @staticmethod
    def logit_difference(logits: torch.Tensor) -> torch.Tensor:
        """Stride-4 two-class logits ``[B, K, 2, h', w']`` -> foreground logit ``[B, K, 4h', 4w']``.

        The original upsamples both logits x4 (bilinear) and takes the softmax;
        only their difference matters and upsampling is linear, so the
        difference is upsampled once (its sigmoid is the same probability,
        for half the full-resolution work).
        """
        diff = logits[:, :, 1] - logits[:, :, 0]
        return F.interpolate(diff, scale_factor=4, mode="bilinear", align_corners=False)


class STM(nn.Module, MemoryModel):
    """Space-Time Memory network.

    Build one with :func:`erfkit.build_model` (``"stm-r50"``, ``"stm-r18"``,
    ``"stm-tiny"``).  Typical use::

        memory = model.memorize(frame0, masks0)           # [B,3,H,W], [B,K+1,H,W]
        logits = model.segment(frame1, memory)            # [B,K+1,H,W]
        memory = Memory.cat([memory, model.memorize(frame1, logits.softmax(1))])

    Attributes:
        config: the architecture.
        checkpoint: what is known about the checkpoint the weights came from
            (set by :func:`~erfkit.model.checkpoint.load_checkpoint`); ``None``
            for a model built or trained in memory.
    """

    checkpoint: "CheckpointInfo | None" = None
    family = "stm"
    propagator = "erfkit.inference.predictor:VideoPredictor"

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c2, c3, c4 = encoder_channels(config.backbone)
        lite = config.backbone not in BACKBONES
        self.Encoder_M = LiteEncoderM(config) if lite else EncoderM(config)
        self.Encoder_Q = LiteEncoderQ(config) if lite else EncoderQ(config)
        self.KV_M_r4 = KeyValue(c4, config.keydim, config.valdim)
        self.KV_Q_r4 = KeyValue(c4, config.keydim, config.valdim)
        self.Decoder = Decoder(2 * config.valdim, c3, c2, config.decoder_dim)

    @torch.no_grad()
    def mirror_encoders(self) -> "STM":
        """Start the memory path as a copy of the query path; returns the model.

        ``Encoder_M``'s backbone and ``KV_M_r4`` take the weights and BatchNorm
        statistics of ``Encoder_Q`` and ``KV_Q_r4``; the mask convolutions
        (``conv1_m`` and ``conv1_o``/``conv1_bg``) start at zero.  A frame's
        memory keys then equal its query keys whatever its masks: memory and
        query start in one feature space.  The paper's two encoders start from
        the same ImageNet ResNet; trained from scratch, this gives them a
        common start (``TrainConfig.mirror_encoders``).
        """
        # the query encoder's entries are the memory encoder's less its mask convolutions
        unexpected = self.Encoder_M.load_state_dict(self.Encoder_Q.state_dict(), strict=False).unexpected_keys
        assert not unexpected, unexpected
        self.KV_M_r4.load_state_dict(self.KV_Q_r4.state_dict())
        self.Encoder_M.conv1_m.weight.zero_()
        getattr(self.Encoder_M, self.Encoder_M.extra_name).weight.zero_()
        return self

    def mask_convolutions(self) -> list[nn.Parameter]:
        """The memory encoder's mask convolutions (``conv1_m`` and ``conv1_o``/``conv1_bg``): its only mask inputs."""
        return [self.Encoder_M.conv1_m.weight, getattr(self.Encoder_M, self.Encoder_M.extra_name).weight]

    def freeze_backbone(self, blocks: int) -> "STM":
        """Keep the encoders' stem and first ``blocks`` backbone blocks out of training; returns the model.

        Only for EfficientNet-Lite0 encoders (``stm-lite0``), whose ImageNet
        features these are; the mask convolutions still train.

        Raises:
            ConfigError: a ResNet model, or more blocks than the encoders hold.
        """
        if not isinstance(self.Encoder_Q, LiteEncoderQ):
            raise ConfigError(f"freeze_blocks is for EfficientNet-Lite0 encoders, not {self.config.backbone}",
                              option="freeze_blocks")
        if blocks > len(self.Encoder_Q.backbone._blocks):
            raise ConfigError(f"freeze_blocks: the encoders hold {len(self.Encoder_Q.backbone._blocks)} blocks",
                              option="freeze_blocks")
        for enc in (self.Encoder_Q, self.Encoder_M):
            bb = enc.backbone
            for module in (bb._conv_stem, bb._bn0, *bb._blocks[:blocks]):
                module.requires_grad_(False)
        return self

    # ------------------------------------------------------------------ memory
    def memorize(self, frame: torch.Tensor, masks: torch.Tensor, *, stem: torch.Tensor | None = None) -> Memory:
        """Encode a frame and its object masks into a memory entry.

        Args:
            frame: ``[B, 3, H, W]`` RGB in ``[0, 1]``.
            masks: ``[B, K+1, H, W]`` probabilities (channel 0, the background,
                is not used: each object's own channel and the others' are).
            stem: optional cached :meth:`memory_stem` of ``frame`` (it does not
                depend on the masks).

        Returns:
            :class:`Memory` with ``T == 1``: keys ``[B, K, Ck, 1, h, w]``,
            values ``[B, K, Cv, 1, h, w]``.
        """
        if masks.shape[-2:] != frame.shape[-2:]:
            raise ValueError(f"masks {tuple(masks.shape[-2:])} and frame {tuple(frame.shape[-2:])} differ in size")
        B = frame.shape[0]
        objects = masks[:, 1:]
        K = objects.shape[1]
        objects, _ = pad_to_multiple(objects, self.config.size_multiple)
        if stem is None:
            stem = self.memory_stem(frame)
        r4 = self.Encoder_M(stem, objects)
        k, v = self.KV_M_r4(r4)
        k = k.view(B, K, *k.shape[1:]).unsqueeze(3)
        v = v.view(B, K, *v.shape[1:]).unsqueeze(3)
        return Memory(k, v)

    def memory_stem(self, frame: torch.Tensor) -> torch.Tensor:
        """The memory encoder's first convolution on ``frame [B, 3, H, W]`` (padded inside)."""
        frame, _ = pad_to_multiple(frame, self.config.size_multiple)
        return self.Encoder_M.frame_stem(frame)

    # ------------------------------------------------------------------- query
    def encode_query(self, frame: torch.Tensor) -> QueryFeatures:
        """Everything :meth:`segment` needs from ``frame [B, 3, H, W]``; reusable across calls."""
        frame, pad = pad_to_multiple(frame, self.config.size_multiple)
        r4, r3, r2 = self.Encoder_Q(frame)
        k, v = self.KV_Q_r4(r4)
        return QueryFeatures(k, v, self.Decoder.RF3.skip(r3), self.Decoder.RF2.skip(r2), pad)

    def object_logits(self, frame: torch.Tensor | QueryFeatures, memory: Memory) -> torch.Tensor:
        """Each object's foreground logit (decoder output, before soft aggregation).

        Args:
            frame: ``[B, 3, H, W]`` or cached :class:`QueryFeatures` (a ``B == 1``
                cache broadcasts to the memory's batch).
            memory: :class:`Memory` with keys ``[B, K, Ck, T, h, w]``.

        Returns:
            ``[B, K, H, W]``: ``up4(l1 - l0)`` of the two-class decoder output;
            object ``k`` is decoded from its own memory only, so objects are
            independent here (they interact in :func:`soft_aggregate`).
        """
        q = frame if isinstance(frame, QueryFeatures) else self.encode_query(frame)
        B = memory.keys.shape[0]
        if q.key.shape[0] != B:
            if q.key.shape[0] != 1:
                raise ValueError(f"query batch {q.key.shape[0]} does not match memory batch {B}")
            q = q.expand(B)
        if q.key.shape[-2:] != memory.keys.shape[-2:]:
            raise ValueError(
                f"query features {tuple(q.key.shape[-2:])} and memory {tuple(memory.keys.shape[-2:])} "
                "come from frames of different sizes"
            )
        read = read_memory(memory, q.key, q.value)
        return _crop(self.Decoder.logit_difference(self.Decoder(read, q.skip3, q.skip2)), q.pad)

    def memory_weights(self, memory: Memory, query: QueryFeatures) -> torch.Tensor:
        """The read's weights ``[B, K, T*h*w, h*w]`` (:func:`memory_weights` with the query's key)."""
        return memory_weights(memory, query.key)

    def attribution_layer(self, side: str) -> str:
        """Grad-CAM's layer: the decoder's last refinement (query) or the memory encoder's stride-8 stage."""
        return "Decoder.RF2.ResMM" if side == "query" else f"Encoder_M.{self.Encoder_M.stride8}"

    def forward(self, frame: torch.Tensor, memory: Memory, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Same as :meth:`segment`."""
        return self.segment(frame, memory, valid)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
