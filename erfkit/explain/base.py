"""One interface for every explanation method, as Captum's: a class per method, one ``attribute``, one result.

An :class:`Explainer` is built with the model and its method's settings; its
:meth:`~Explainer.attribute` explains frames ``l`` for one target frame ``t``
and returns an :class:`Explanation`: maps ``[L, K, H, W]`` on the frames
``l``, the :class:`~erfkit.explain.keys.MapKey` of what was computed, the
settings that decided the maps and method-specific extras::

    explainer = explainer_for(model, MapKey.saliency("gradcam", "memory"))
    e = explainer.attribute(frames, x_t, y_t, frame_masks=y_l)
    e.maps.shape        # [L, K, H, W]
    e.key.name          # 'saliency_gradcam_memory'

The methods (:class:`~erfkit.explain.cycle.CycleERF`,
:class:`~erfkit.explain.erf.ClassicERF`, the Captum explainers of
:mod:`erfkit.explain.attribution`) live beside their functional versions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..model.memory_model import MemoryModel
from .keys import MapKey

__all__ = ["Explanation", "Explainer", "ExplainerInputs"]

#: ``progress(done, total)``, called after each frame (or batch of frames)
Progress = Callable[[int, int], None]


@dataclass
class Explanation:
    """Maps of one method for frames ``l`` and one target frame.

    Attributes:
        maps: ``[L, K, H, W]`` non-negative, one per frame ``l`` and object, on the frames ``l``.
        key: what was computed (:class:`~erfkit.explain.keys.MapKey`).
        settings: the parameters that decided the maps (JSON-able; batch sizes,
            which only bound memory, are left out).
        extras: method-specific tensors, e.g. cycle-ERF's ``losses [L, M+1]``
            and ``masks [L, K, H, W]``, classic ERF's ``units [L, K, 2]``.
    """

    maps: torch.Tensor
    key: MapKey
    settings: dict[str, Any]
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class ExplainerInputs:
    """The validated inputs of :meth:`Explainer.attribute` (see there for the shapes).

    ``frame_masks`` and ``frame_regions`` may be missing; :meth:`need_frame_masks`
    and :meth:`need_frame_regions` raise a clear error for methods that need them.
    """

    frames: torch.Tensor
    target_frame: torch.Tensor
    target_mask: torch.Tensor
    target_regions: torch.Tensor
    frame_masks: torch.Tensor | None
    frame_regions: torch.Tensor | None
    explainer: str

    @property
    def L(self) -> int:
        return self.frames.shape[0]

    @property
    def K(self) -> int:
        return self.target_mask.shape[1] - 1

    def need_frame_masks(self) -> torch.Tensor:
        """``[L, K+1, H, W]``, or a ``ValueError`` naming the explainer."""
        if self.frame_masks is None:
            raise ValueError(f"{self.explainer} needs frame_masks: frame l's mask [L, K+1, H, W] "
                             "(frame l is the memory)")
        return self.frame_masks

    def need_frame_regions(self) -> torch.Tensor:
        """``[L, K, H, W]`` bool, or a ``ValueError`` naming the explainer."""
        if self.frame_regions is None:
            raise ValueError(f"{self.explainer} needs frame_regions [L, K, H, W] or frame_masks [L, K+1, H, W] "
                             "(where each object is in frame l)")
        return self.frame_regions


def _check_inputs(frames: torch.Tensor, target_frame: torch.Tensor, target_mask: torch.Tensor,
                  frame_masks: torch.Tensor | None, target_regions: torch.Tensor | None,
                  frame_regions: torch.Tensor | None, explainer: str) -> ExplainerInputs:
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames are [L, 3, H, W], got {tuple(frames.shape)}")
    L, _, H, W = frames.shape
    if target_frame.shape != (1, 3, H, W):
        raise ValueError(f"target_frame must be [1, 3, H, W] like the frames, got {tuple(target_frame.shape)}")
    if target_mask.ndim != 4 or target_mask.shape[0] != 1 or target_mask.shape[-2:] != (H, W):
        raise ValueError(f"target_mask must be [1, K+1, H, W], got {tuple(target_mask.shape)}")
    K = target_mask.shape[1] - 1
    if frame_masks is not None and frame_masks.shape != (L, K + 1, H, W):
        raise ValueError(f"frame_masks must be [L, K+1, H, W] = {(L, K + 1, H, W)}, got {tuple(frame_masks.shape)}")
    if target_regions is None:
        target_regions = target_mask[0, 1:] > 0.5
    elif target_regions.shape != (K, H, W):
        raise ValueError(f"target_regions must be [K, H, W] = {(K, H, W)}, got {tuple(target_regions.shape)}")
    if frame_regions is None:
        frame_regions = None if frame_masks is None else frame_masks[:, 1:] > 0.5
    elif frame_regions.shape != (L, K, H, W):
        raise ValueError(f"frame_regions must be [L, K, H, W] = {(L, K, H, W)}, got {tuple(frame_regions.shape)}")
    return ExplainerInputs(frames, target_frame, target_mask, target_regions.bool(), frame_masks,
                           None if frame_regions is None else frame_regions.bool(), explainer)


class Explainer(ABC):
    """An explanation method: built with the model and its settings, run by :meth:`attribute`.

    Subclasses define :attr:`key`, :attr:`settings` and :meth:`_attribute`.

    Args:
        model: the network, any :class:`~erfkit.model.memory_model.MemoryModel` (not changed; its weights get no gradients).
    """

    def __init__(self, model: MemoryModel):
        self.model = model

    @property
    @abstractmethod
    def key(self) -> MapKey:
        """What the maps are."""

    @property
    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The JSON-able parameters that decide the maps."""

    @abstractmethod
    def _attribute(self, inputs: ExplainerInputs, progress: Progress | None) -> tuple[torch.Tensor,
                                                                                        dict[str, torch.Tensor]]:
        """``(maps [L, K, H, W], extras)``."""

    def attribute(self, frames: torch.Tensor, target_frame: torch.Tensor, target_mask: torch.Tensor, *,
                  frame_masks: torch.Tensor | None = None, target_regions: torch.Tensor | None = None,
                  frame_regions: torch.Tensor | None = None, progress: Progress | None = None) -> Explanation:
        """Maps of every frame ``l`` for one target frame ``t``.

        Args:
            frames: ``[L, 3, H, W]`` the frames ``l`` explained, RGB in [0, 1].
            target_frame: ``[1, 3, H, W]`` the frame ``t``.
            target_mask: ``[1, K+1, H, W]`` one-hot over background + ``K``
                objects: frame ``t``'s mask as the network is given it.
            frame_masks: ``[L, K+1, H, W]`` frame ``l``'s mask as given to the
                network; needed where frame ``l`` is the memory (and, unless
                ``frame_regions`` is given, where regions or output units come
                from frame ``l``).
            target_regions: ``[K, H, W]`` bool, where each object is in frame
                ``t`` (default ``target_mask[0, 1:] > 0.5``).
            frame_regions: ``[L, K, H, W]`` bool, where each object is in frame
                ``l`` (default ``frame_masks[:, 1:] > 0.5``).
            progress: optional ``progress(done, total)`` after each frame (or batch).

        Returns:
            :class:`Explanation` with ``maps [L, K, H, W]`` on the frames ``l``.

        Raises:
            ValueError: a shape does not fit, or an input the method needs is missing.
        """
        inputs = _check_inputs(frames, target_frame, target_mask, frame_masks, target_regions, frame_regions,
                               f"{type(self).__name__} ({self.key.title})")
        maps, extras = self._attribute(inputs, progress)
        return Explanation(maps, self.key, self.settings, extras)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{type(self).__name__}({args})"
