"""ResNet backbones written with torchvision's parameter names.

torchvision does not work with the CPU build of torch this project uses, so the
two residual block types and the ResNet trunk are written here.  Parameter names
match ``torchvision.models.resnet`` exactly (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.downsample.0`` ...), so a torchvision state dict (e.g. ImageNet
weights a user already has) loads into it unchanged.  Bottleneck blocks put the
stride on the 3x3 convolution ("ResNet v1.5"), as torchvision does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

__all__ = ["BackboneConfig", "BasicBlock", "Bottleneck", "ResNet", "BACKBONES"]


@dataclass(frozen=True)
class BackboneConfig:
    """Shape of a ResNet trunk.

    Attributes:
        block: ``"basic"`` (ResNet-18/34) or ``"bottleneck"`` (ResNet-50 and up).
        layers: number of blocks in each stage; STM uses the first three stages.
        widths: planes of each stage (the stem has ``widths[0]`` channels); the
            stage's output has ``widths[i] * expansion`` channels.
    """

    block: Literal["basic", "bottleneck"]
    layers: tuple[int, ...]
    widths: tuple[int, ...] = (64, 128, 256, 512)

    @property
    def expansion(self) -> int:
        return 4 if self.block == "bottleneck" else 1

    def channels(self, stage: int) -> int:
        """Output channels of stage ``stage`` (1-based: layer1 -> 1)."""
        return self.widths[stage - 1] * self.expansion


#: torchvision's architectures (all four stages) and the narrow trunk of ``stm-tiny``.
BACKBONES: dict[str, BackboneConfig] = {
    "resnet18": BackboneConfig("basic", (2, 2, 2, 2)),
    "resnet34": BackboneConfig("basic", (3, 4, 6, 3)),
    "resnet50": BackboneConfig("bottleneck", (3, 4, 6, 3)),
    "resnet101": BackboneConfig("bottleneck", (3, 4, 23, 3)),
    "resnet-tiny": BackboneConfig("basic", (1, 1, 1, 1), (16, 32, 64, 128)),
}


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 convolutions with a residual connection (ResNet-50 and up)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A ResNet trunk: stem (7x7 conv, BN, ReLU, max-pool) and residual stages.

    Args:
        config: the architecture.
        num_stages: how many stages to build (STM uses 3: up to ``layer3``,
            stride 16).  ``None`` builds all of them.

    ``forward(x [B, 3, H, W])`` returns the list of stage outputs
    ``[layer1 (stride 4), layer2 (stride 8), ...]``.
    """

    def __init__(self, config: BackboneConfig, num_stages: int | None = None):
        super().__init__()
        block = BasicBlock if config.block == "basic" else Bottleneck
        stages = len(config.layers) if num_stages is None else num_stages
        self.config = config
        self.inplanes = config.widths[0]
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for i in range(stages):
            layer = self._make_layer(block, config.widths[i], config.layers[i], stride=1 if i == 0 else 2)
            setattr(self, f"layer{i + 1}", layer)
        self.num_stages = stages
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
            outs.append(x)
        return outs
