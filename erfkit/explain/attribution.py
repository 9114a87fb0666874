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
``gradcam``         ``LayerGradCam`` on the model's ``attribution_layer`` (STM: ``Decoder.RF2.ResMM`` for the
                    query, ``Encoder_M``'s stride-8 layer for the memory), upsampled
``occlusion``       ``Occlusion`` with black square windows
==================  ==========================================================

Every map is reduced to ``[H, W]`` and made non-negative the same way: the
absolute value summed over colour channels (GradCAM and Occlusion: the
positive part).

Each method is a :class:`CaptumExplainer` subclass (``Gradient`` for
``saliency``, ``InputXGradient``, ``IntegratedGradients``, ``SmoothGrad``,
``GradCAM``, ``Occlusion``), registered in :data:`SALIENCY_EXPLAINERS`;
:func:`saliency` is the functional form.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..model.memory_model import MemoryModel
from ..tensors import frozen
from .base import Explainer, ExplainerInputs, Progress
from .keys import MapKey, Side

__all__ = ["SALIENCY_METHODS", "LAYER_METHODS", "SALIENCY_EXPLAINERS", "SaliencyConfig", "ObjectScore", "CaptumExplainer", "Gradient",
           "InputXGradient", "IntegratedGradients", "SmoothGrad", "GradCAM", "Occlusion", "saliency",
           "saliency_explainer"]

SALIENCY_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "gradcam", "occlusion")
#: the methods that read an inner layer (its activations' units): comparable only between models that share it
LAYER_METHODS = ("gradcam",)


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
        model: the network (any :class:`~erfkit.model.memory_model.MemoryModel`).
        k: the object slot (0-based).
        region: ``[H, W]`` bool, the fixed region of the query frame.
        memory_mask: ``[1, K+1, H, W]``, the memory frame's mask.
        wrt: which frame is attributed: ``query`` or ``memory``.
        other: ``[1, 3, H, W]`` the frame that is not attributed.
    """

    def __init__(self, model: MemoryModel, k: int, region: torch.Tensor, memory_mask: torch.Tensor,
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
            memory = self.memory.expand(N)
            logit = self.model.object_logits(attributed, memory)[:, 0]
        else:
            mask = self.memory_mask.expand(N, *self.memory_mask.shape[1:])
            memory = self.model.memorize(attributed, mask).select([self.k])
            logit = self.model.object_logits(self.query, memory)[:, 0]
        return (logit * self.region).flatten(1).sum(1)


class CaptumExplainer(Explainer):
    """A Captum method as an :class:`~erfkit.explain.base.Explainer`; one subclass per method.

    For each frame ``l`` and object ``k``, the method attributes
    :class:`ObjectScore` (object ``k``'s logit summed inside a fixed region of
    the frame segmented) to frame ``l``:

    * ``wrt="query"``: frame ``l`` is the query, segmented from the target's
      memory (``target_frame``, ``target_mask``); the regions are
      ``frame_regions[l]`` (or ``frame_masks``);
    * ``wrt="memory"``: frame ``l`` is the memory (with ``frame_masks[l]``,
      required), the target frame is segmented; the regions are ``target_regions``.

    Subclasses set :attr:`method` (the name in :data:`SALIENCY_METHODS`),
    :attr:`params` (the :class:`SaliencyConfig` fields that decide their maps)
    and override :meth:`_object_map`.

    Args:
        model: the network (any :class:`~erfkit.model.memory_model.MemoryModel`).
        wrt: frame ``l`` as the ``query`` or the ``memory``.
        config: method settings (default ``SaliencyConfig()``).
    """

    #: the method's name in :data:`SALIENCY_METHODS`
    method: ClassVar[str]
    #: the :class:`SaliencyConfig` fields that decide the maps (batch sizes do not)
    params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model: MemoryModel, wrt: Side = "query", config: SaliencyConfig | None = None):
        super().__init__(model)
        if wrt not in ("query", "memory"):
            raise ConfigError(f"wrt must be 'query' or 'memory', not {wrt!r}")
        self.wrt = wrt
        self.config = config or SaliencyConfig()

    @property
    def key(self) -> MapKey:
        return MapKey.saliency(self.method, self.wrt)

    @property
    def settings(self) -> dict:
        return {"method": self.method, "wrt": self.wrt, **{p: getattr(self.config, p) for p in self.params}}

    @abstractmethod
    def _object_map(self, f: ObjectScore, x: torch.Tensor) -> torch.Tensor:
        """Attribute ``f`` to ``x [1, 3, H, W]`` -> ``[1, H, W]``, non-negative up to NaN/inf."""

    def pair_maps(self, query_frame: torch.Tensor, memory_frame: torch.Tensor, memory_mask: torch.Tensor,
                  regions: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """Maps of every object for one (query, memory) pair, on the attributed frame (see :func:`saliency`).

        Returns:
            ``[K, H, W]`` non-negative.
        """
        K = memory_mask.shape[1] - 1
        H, W = query_frame.shape[-2:]
        attributed, other = (query_frame, memory_frame) if self.wrt == "query" else (memory_frame, query_frame)
        maps = []
        with frozen(self.model), torch.enable_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*required_grads has been set automatically.*")
            warnings.filterwarnings("ignore", message=".*does not require gradients.*")
            for k in range(K):
                region = regions[k].bool()
                if not region.any():
                    region = torch.ones_like(region)
                f = ObjectScore(self.model, k, region, memory_mask, self.wrt, other.detach())
                a = self._object_map(f, attributed.detach().clone())
                maps.append(torch.nan_to_num(a[0].detach(), nan=0.0, posinf=0.0, neginf=0.0))
        return torch.stack(maps) if maps else query_frame.new_zeros((0, H, W))

    def _attribute(self, inputs: ExplainerInputs, progress: Progress | None):
        if self.wrt == "memory":
            masks = inputs.need_frame_masks()
        else:
            regions = inputs.need_frame_regions()
        maps = []
        for l in range(inputs.L):
            x_l = inputs.frames[l:l + 1]
            if self.wrt == "query":
                m = self.pair_maps(x_l, inputs.target_frame, inputs.target_mask, list(regions[l]))
            else:
                m = self.pair_maps(inputs.target_frame, x_l, masks[l:l + 1], list(inputs.target_regions))
            maps.append(m)
            if progress is not None:
                progress(l + 1, inputs.L)
        H, W = inputs.frames.shape[-2:]
        return (torch.stack(maps) if maps else inputs.frames.new_zeros((0, inputs.K, H, W))), {}


class Gradient(CaptumExplainer):
    """``captum.attr.Saliency``: ``|grad|`` summed over colours (method ``saliency``)."""

    method = "saliency"

    def _object_map(self, f: ObjectScore, x: torch.Tensor) -> torch.Tensor:
        from captum.attr import Saliency

        return Saliency(f).attribute(x, abs=True).sum(1)


class InputXGradient(CaptumExplainer):
    """``captum.attr.InputXGradient``: ``|x * grad|`` summed over colours."""

    method = "input_x_gradient"

    def _object_map(self, f: ObjectScore, x: torch.Tensor) -> torch.Tensor:
        from captum.attr import InputXGradient as CaptumInputXGradient

        return CaptumInputXGradient(f).attribute(x).abs().sum(1)


class IntegratedGradients(CaptumExplainer):
    """``captum.attr.IntegratedGradients`` from a black image in ``ig_steps`` steps, ``|a|`` summed over colours."""

    method = "integrated_gradients"
    params = ("ig_steps",)

    def _object_map(self, f: ObjectScore, x: torch.Tensor) -> torch.Tensor:
        from captum.attr import IntegratedGradients as CaptumIntegratedGradients

        cfg = self.config
        a = CaptumIntegratedGradients(f).attribute(x, baselines=torch.zeros_like(x), n_steps=cfg.ig_steps,
                                                   internal_batch_size=cfg.ig_batch)
        return a.abs().sum(1)


class SmoothGrad(CaptumExplainer):
    """``NoiseTunnel(Saliency)``: ``|grad|`` averaged over Gaussian noise of ``smoothgrad_stdev`` (random)."""

    method = "smoothgrad"
    params = ("smoothgrad_samples", "smoothgrad_stdev")

    def _object_map(self, f: ObjectScore, x: torch.Tensor) -> torch.Tensor:
        from captum.attr import NoiseTunnel, Saliency

        cfg = self.config
        nt = NoiseTunnel(Saliency(f))
        return nt.attribute(x, nt_type="smoothgrad", nt_samples=cfg.smoothgrad_samples,
                            nt_samples_batch_size=cfg.ig_batch, stdevs=cfg.smoothgrad_stdev, abs=True).sum(1)


class GradCAM(CaptumExplainer):
    """``LayerGradCam`` on the model's :meth:`~erfkit.model.memory_model.MemoryModel.attribution_layer` of the side,
    positive part, upsampled (its values are in the units of that layer's activations)."""

    method = "gradcam"

    @property
    def settings(self) -> dict:
        return {**super().settings, "layer": self.model.attribution_layer(self.wrt)}

    def _object_map(self, f: ObjectScore, x: torch.Tensor) -> torch.Tensor:
        from captum.attr import LayerAttribution, LayerGradCam

        H, W = x.shape[-2:]
        g = LayerGradCam(f, self.model.get_submodule(self.model.attribution_layer(self.wrt))).attribute(x, relu_attributions=False)
        # Memory side: the encoder runs every object as a batch row (object k needs
        # the others' masks); the score depends on row k only, so the sum is row k.
        g = g.sum(0, keepdim=True).clamp_min(0)
        pad = self.model.encode_query(x[:1].detach()).pad if self.wrt == "query" else None
        return _upsample_to_frame(g, LayerAttribution, self.model, H, W, pad)


class Occlusion(CaptumExplainer):
    """``captum.attr.Occlusion`` with black square windows; the positive part of the colour mean."""

    method = "occlusion"
    params = ("occlusion_window", "occlusion_stride")

    def _object_map(self, f: ObjectScore, x: torch.Tensor) -> torch.Tensor:
        from captum.attr import Occlusion as CaptumOcclusion

        w, s = self.config.occlusion_window, self.config.occlusion_stride
        a = CaptumOcclusion(f).attribute(x, sliding_window_shapes=(3, w, w), strides=(3, s, s), baselines=0.0,
                                         perturbations_per_eval=self.config.occlusion_batch)
        return a.mean(1).clamp_min(0)


#: the explainer class of each name in :data:`SALIENCY_METHODS`
SALIENCY_EXPLAINERS: dict[str, type[CaptumExplainer]] = {
    c.method: c for c in (Gradient, InputXGradient, IntegratedGradients, SmoothGrad, GradCAM, Occlusion)}


def saliency_explainer(model: MemoryModel, method: str, wrt: Side = "query",
                       config: SaliencyConfig | None = None) -> CaptumExplainer:
    """The :class:`CaptumExplainer` of ``method`` (one of :data:`SALIENCY_METHODS`).

    Raises:
        ConfigError: an unknown method or ``wrt``.
    """
    if method not in SALIENCY_EXPLAINERS:
        raise ConfigError(f"unknown saliency method {method!r}; choose from {', '.join(SALIENCY_METHODS)}")
    return SALIENCY_EXPLAINERS[method](model, wrt, config)


def saliency(model: MemoryModel, method: str, query_frame: torch.Tensor, memory_frame: torch.Tensor,
             memory_mask: torch.Tensor, regions: list[torch.Tensor], *, wrt: Literal["query", "memory"] = "query",
             config: SaliencyConfig | None = None) -> torch.Tensor:
    """Saliency maps of every object with one Captum method.

    The functional form of the explainers in :data:`SALIENCY_EXPLAINERS`
    (:meth:`CaptumExplainer.pair_maps`).

    Args:
        model: the network, any :class:`~erfkit.model.memory_model.MemoryModel` (weights get no gradients).
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
    return saliency_explainer(model, method, wrt, config).pair_maps(query_frame, memory_frame, memory_mask, regions)


def _upsample_to_frame(g: torch.Tensor, LayerAttribution, model: MemoryModel, H: int, W: int, pad) -> torch.Tensor:
    """GradCAM lives on the padded frame's feature grid: upsample to the padded size, crop the padding."""
    m = model.config.size_multiple
    Hp, Wp = H + (-H) % m, W + (-W) % m
    up = LayerAttribution.interpolate(g, (Hp, Wp), interpolate_mode="bilinear")[:, 0]
    ph, pw = Hp - H, Wp - W
    top, left = ph // 2, pw // 2
    return up[:, top:top + H, left:left + W].clamp_min(0)
