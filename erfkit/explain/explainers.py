"""The explainer of a map key: one place that maps :class:`~erfkit.explain.keys.MapKey` to its method's class."""

from __future__ import annotations

from ..model.memory_model import MemoryModel
from .attribution import SaliencyConfig, saliency_explainer
from .base import Explainer
from .cycle import CycleERF, CycleERFConfig
from .erf import ClassicERF
from .keys import MapKey

__all__ = ["explainer_for"]


def explainer_for(model: MemoryModel, key: MapKey, *, cycle: CycleERFConfig = CycleERFConfig(), reduction: str = "abs",
                  saliency: SaliencyConfig = SaliencyConfig()) -> Explainer:
    """The explainer that computes the maps ``key`` names.

    Args:
        model: the network (any :class:`~erfkit.model.memory_model.MemoryModel`).
        key: which maps (cycle-ERF, classic ERF or a Captum method, and the side).
        cycle: cycle-ERF settings.
        reduction: classic ERF's reduction over colours, ``abs`` or ``positive``.
        saliency: Captum settings.

    Returns:
        :class:`~erfkit.explain.cycle.CycleERF`, :class:`~erfkit.explain.erf.ClassicERF`
        or the method's class in :data:`~erfkit.explain.attribution.SALIENCY_EXPLAINERS`.
    """
    if key.group == "cycle":
        return CycleERF(model, cycle)
    if key.group == "classic":
        return ClassicERF(model, key.wrt, reduction)  # type: ignore[arg-type]
    return saliency_explainer(model, str(key.method), key.wrt, saliency)  # type: ignore[arg-type]
