"""Typed names of explanation maps.

A map is identified by its method group (``cycle``, ``classic`` ERF,
``saliency``), the side of the frame ``l`` it lives on (``query`` or
``memory``; cycle-ERF has none) and, for saliency, the Captum method.  Its
:attr:`MapKey.name` is the string stored in atlases and CSV files
(``cycle``, ``erf_memory``, ``saliency_integrated_gradients_query``)::

    key = MapKey.saliency("gradcam", "memory")
    key.name                      # 'saliency_gradcam_memory'
    MapKey.parse(key.name) == key # True
    key.title                     # 'gradcam (memory)'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError

__all__ = ["MapKey", "Group", "Side", "CYCLE"]

Group = Literal["cycle", "classic", "saliency"]
Side = Literal["query", "memory"]
GROUPS = ("cycle", "classic", "saliency")
SIDES = ("query", "memory")


@dataclass(frozen=True, order=True)
class MapKey:
    """Which map: method group, side and (saliency) Captum method.

    Attributes:
        group: ``cycle``, ``classic`` (classic ERF) or ``saliency``.
        wrt: ``query`` or ``memory``: frame ``l``'s role (``None`` for cycle).
        method: the Captum method of a saliency map (see
            :data:`erfkit.explain.attribution.SALIENCY_METHODS`), else ``None``.
    """

    group: Group
    wrt: Side | None = None
    method: str | None = None

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ConfigError(f"unknown map group {self.group!r}; choose from {', '.join(GROUPS)}")
        if (self.group == "cycle") != (self.wrt is None) or (self.wrt is not None and self.wrt not in SIDES):
            raise ConfigError(f"a {self.group} map needs wrt in {SIDES}" if self.group != "cycle"
                              else "a cycle-ERF map has no wrt")
        if (self.group == "saliency") != (self.method is not None):
            raise ConfigError("only saliency maps (and all of them) name a Captum method")

    @classmethod
    def erf(cls, wrt: Side) -> "MapKey":
        """Classic ERF of frame ``l`` as the query or the memory."""
        return cls("classic", wrt)

    @classmethod
    def saliency(cls, method: str, wrt: Side) -> "MapKey":
        """A Captum map of frame ``l`` as the query or the memory."""
        return cls("saliency", wrt, method)

    @property
    def name(self) -> str:
        """The stored name: ``cycle``, ``erf_<wrt>`` or ``saliency_<method>_<wrt>``."""
        if self.group == "cycle":
            return "cycle"
        if self.group == "classic":
            return f"erf_{self.wrt}"
        return f"saliency_{self.method}_{self.wrt}"

    @property
    def title(self) -> str:
        """A short human title: ``cycle-ERF``, ``classic ERF (memory)``, ``gradcam (query)``."""
        if self.group == "cycle":
            return "cycle-ERF"
        what = "classic ERF" if self.group == "classic" else str(self.method)
        return f"{what} ({self.wrt})"

    @classmethod
    def parse(cls, name: str) -> "MapKey":
        """The key of a stored name (inverse of :attr:`name`)."""
        if name == "cycle":
            return CYCLE
        head, _, wrt = name.rpartition("_")
        if head == "erf":
            return cls("classic", wrt)  # type: ignore[arg-type]
        if head.startswith("saliency_") and wrt in SIDES:
            return cls("saliency", wrt, head[len("saliency_"):])  # type: ignore[arg-type]
        raise ConfigError(f"not a map name: {name!r}")

    def __str__(self) -> str:
        return self.name


#: the cycle-ERF map
CYCLE = MapKey("cycle")
