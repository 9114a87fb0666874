"""Saliency maps through Captum, on the same model and the same scalar for every method.

The scalar explained (:class:`ObjectScore`) is object ``k``'s foreground logit
(the decoder's ``l1 - l0``, before soft aggregation, so it does not depend on
the other objects) summed inside a FIXED region of the query frame: the
object's ground-truth mask there (the whole frame when that mask is empty).
The region does not move with the perturbed input, which Integrated Gradients
and Occlusion need.  The memory frame is memorised with its mask inside the
forward, so attributions can be taken with respect to the query frame or the
memory frame (the other one held fixed).

Methods (Captum 0.9):

==================  ==========================================================
``saliency``        ``Saliency``, ``|grad|``
``input_x_gradient``  ``InputXGradient``
``integrated_gradients``  ``IntegratedGradients`` from a black image, ``ig_steps`` steps
``smoothgrad``      ``NoiseTunnel(Saliency)``, Gaussian noise of ``smoothgrad_stdev`` (pixels in [0, 1])
``gradcam``         ``LayerGradCam`` on ``Decoder.RF2.ResMM`` (query) or ``Encoder_M.res3`` (memory), upsampled
``occlusion``       ``Occlusion`` with black square windows
==================  ==========================================================

Every map is reduced to ``[H, W]`` and made non-negative the same way: the
absolute value summed over colour channels (GradCAM and Occlusion: the
positive part).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..tensors import frozen
from ..model.stm import STM

__all__ = ["SALIENCY_METHODS", "SaliencyConfig", "ObjectScore", "saliency"]

SALIENCY_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "gradcam", "occlusion")


@dataclass(frozen=True)
class SaliencyConfig:
    """Settings of the Captum methods."""

    ig_steps: int = 32
    ig_batch: int = 8
    smoothgrad_samples: int = 16
    smoothgrad_stdev: float = 0.1
    occlusion_window: int = 48
    occlusion_stride: int = 32
    occlusion_batch: int = 16


class ObjectScore(nn.Module):
    """``f(attributed, other) -> [N]``: object ``k``'s logit summed inside a fixed query-frame region.

    The side that is not attributed does not change, so it is encoded once:
    the memory (when attributing the query frame) or the query features (when
    attributing the memory frame).

    Args:
        model: the STM.
        k: the object slot (0-based).
        region: ``[H, W]`` bool, the fixed region of the query frame.
        memory_mask: ``[1, K+1, H, W]``, the memory frame's mask.
        wrt: which frame is attributed: ``query`` or ``memory``.
        other: ``[1, 3, H, W]`` the frame that is not attributed.
    """

    def __init__(self, model: STM, k: int, region: torch.Tensor, memory_mask: torch.Tensor,
                 wrt: Literal["query", "memory"], other: torch.Tensor):
        super().__init__()
        self.model = model
        self.k = k
        self.register_buffer("region", region.float())
        self.register_buffer("memory_mask", memory_mask)
        self.wrt = wrt
        with torch.no_grad():
            if wrt == "query":
                self.memory = model.memorize(other, memory_mask).select([k])
            else:
                self.query = model.encode_query(other)

    def forward(self, attributed: torch.Tensor) -> torch.Tensor:
        N = attributed.shape[0]
        if self.wrt == "query":
            m = self.memory
            memory = type(m)(m.keys.expand(N, *m.keys.shape[1:]), m.values.expand(N, *m.values.shape[1:]))
            logit = self.model.object_logits(attributed, memory)[:, 0]
        else:
            mask = self.memory_mask.expand(N, *self.memory_mask.shape[1:])
            memory = self.model.memorize(attributed, mask).select([self.k])
            logit = self.model.object_logits(self.query, memory)[:, 0]
        return (logit * self.region).flatten(1).sum(1)


def _gradcam_layer(model: STM, wrt: str) -> nn.Module:
    return model.Decoder.RF2.ResMM if wrt == "query" else model.Encoder_M.res3


def saliency(model: STM, method: str, query_frame: torch.Tensor, memory_frame: torch.Tensor,
             memory_mask: torch.Tensor, regions: list[torch.Tensor], *, wrt: Literal["query", "memory"] = "query",
             config: SaliencyConfig | None = None) -> torch.Tensor:
    """Saliency maps of every object with one Captum method.

    Args:
        model: the STM (weights get no gradients).
        method: one of :data:`SALIENCY_METHODS`.
        query_frame: ``[1, 3, H, W]``; memory_frame: ``[1, 3, H, W]``.
        memory_mask: ``[1, K+1, H, W]`` the memory frame's mask.
        regions: per object, ``[H, W]`` bool region of the query frame summed
            over (its ground truth there; empty -> the whole frame).
        wrt: attribute to the ``query`` or the ``memory`` frame.
        config: method settings.

    Returns:
        ``[K, H, W]`` non-negative maps on the attributed frame.
    """
    from captum.attr import (IntegratedGradients, InputXGradient, LayerAttribution, LayerGradCam, NoiseTunnel,
                             Occlusion, Saliency)

    if method not in SALIENCY_METHODS:
        raise ConfigError(f"unknown saliency method {method!r}; choose from {', '.join(SALIENCY_METHODS)}")
    if wrt not in ("query", "memory"):
        raise ConfigError(f"wrt must be 'query' or 'memory', not {wrt!r}")
    cfg = config or SaliencyConfig()
    K = memory_mask.shape[1] - 1
    H, W = query_frame.shape[-2:]
    attributed, other = (query_frame, memory_frame) if wrt == "query" else (memory_frame, query_frame)
    maps = []
    with frozen(model), torch.enable_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*required_grads has been set automatically.*")
        warnings.filterwarnings("ignore", message=".*does not require gradients.*")
        for k in range(K):
            region = regions[k].bool()
            if not region.any():
                region = torch.ones_like(region)
            f = ObjectScore(model, k, region, memory_mask, wrt, other.detach())
            x = attributed.detach().clone()
            if method == "saliency":
                a = Saliency(f).attribute(x, abs=True).sum(1)
            elif method == "input_x_gradient":
                a = InputXGradient(f).attribute(x).abs().sum(1)
            elif method == "integrated_gradients":
                a = IntegratedGradients(f).attribute(x, baselines=torch.zeros_like(x), n_steps=cfg.ig_steps,
                                                     internal_batch_size=cfg.ig_batch)
                a = a.abs().sum(1)
            elif method == "smoothgrad":
                nt = NoiseTunnel(Saliency(f))
                a = nt.attribute(x, nt_type="smoothgrad", nt_samples=cfg.smoothgrad_samples,
                                 nt_samples_batch_size=cfg.ig_batch, stdevs=cfg.smoothgrad_stdev,
                                 abs=True).sum(1)
            elif method == "gradcam":
                layer = _gradcam_layer(model, wrt)
                g = LayerGradCam(f, layer).attribute(x, relu_attributions=False)
                # Memory side: the encoder runs every object as a batch row (object k needs
                # the others' masks); the score depends on row k only, so the sum is row k.
                g = g.sum(0, keepdim=True).clamp_min(0)
                pad = model.encode_query(x[:1].detach()).pad if wrt == "query" else None
                a = _upsample_to_frame(g, LayerAttribution, model, H, W, pad)
            else:  # occlusion
                w, s = cfg.occlusion_window, cfg.occlusion_stride
                a = Occlusion(f).attribute(x, sliding_window_shapes=(3, w, w), strides=(3, s, s), baselines=0.0,
                                           perturbations_per_eval=cfg.occlusion_batch)
                a = a.mean(1).clamp_min(0)
            maps.append(torch.nan_to_num(a[0].detach(), nan=0.0, posinf=0.0, neginf=0.0))
    return torch.stack(maps) if maps else query_frame.new_zeros((0, H, W))


def _upsample_to_frame(g: torch.Tensor, LayerAttribution, model: STM, H: int, W: int, pad) -> torch.Tensor:
    """GradCAM lives on the padded frame's feature grid: upsample to the padded size, crop the padding."""
    m = model.config.size_multiple
    Hp, Wp = H + (-H) % m, W + (-W) % m
    up = LayerAttribution.interpolate(g, (Hp, Wp), interpolate_mode="bilinear")[:, 0]
    ph, pw = Hp - H, Wp - W
    top, left = ph // 2, pw // 2
    return up[:, top:top + H, left:left + W].clamp_min(0)
