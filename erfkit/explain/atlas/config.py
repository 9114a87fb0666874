"""What an atlas computes (:class:`AtlasConfig`) and what it is computed from (fingerprints of model and data)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ...data.synth import synth_info
from ...data.video import VideoSequence
from ...errors import ConfigError
from ...model.memory_model import MemoryModel
from ..attribution import SALIENCY_METHODS
from ..cycle import CycleERFConfig
from ..keys import CYCLE, MapKey

__all__ = ["AtlasConfig", "ATLAS_METHODS", "model_fingerprint", "sequence_fingerprint"]

ATLAS_METHODS = ("cycle", "classic", "saliency")


@dataclass(frozen=True)
class AtlasConfig:
    """What an atlas computes.

    Attributes:
        methods: any of ``cycle``, ``classic`` (both ERFs), ``saliency``.
        saliency_methods: Captum methods used by ``saliency`` (see :data:`SALIENCY_METHODS`).
        target: the target frame ``t``.
        steps, rate, gamma: cycle-ERF settings (``M``, ``alpha``, ``gamma``).
        batch_size: reference frames per cycle-ERF batch, or ``"auto"`` (sized to the free memory when a
            build starts, :func:`~erfkit.explain.batching.plan_batch`).  It does not change the maps, so
            atlases computed with other batch sizes are the same atlas.
        bootstrap: the fraction of hardest pixels in the cycle-ERF loss's
            cross-entropy (0.4: the authors' criterion, as gradient correction; 1: all).
        reduction: classic ERF reduction over colours (``abs`` or ``positive``).
        metrics_every: deletion/insertion on every N-th frame (0: never; they
            cost ``2 (deletion_steps + 1)`` forward passes per map).
        sanity_every: weight-randomisation check on every N-th frame (0: never).
        deletion_steps: parts in which pixels are deleted/inserted.
        seed: seed of the randomised model.
        dtype: ``float32``, or ``bfloat16``: the explanations computed under autocast (the segmentation
            that gives ``pred`` stays float32); meant for GPUs, where it is faster.
    """

    methods: tuple[str, ...] = ATLAS_METHODS
    saliency_methods: tuple[str, ...] = ("saliency",)
    target: int = 0
    steps: int = 50
    rate: float = 180.0
    gamma: float = 1.0
    batch_size: int | str = 4
    bootstrap: float = 0.4
    reduction: str = "abs"
    metrics_every: int = 4
    sanity_every: int = 8
    deletion_steps: int = 10
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in ATLAS_METHODS]
        if bad:
            raise ConfigError(f"unknown atlas methods {bad}; choose from {', '.join(ATLAS_METHODS)}")
        bad = [m for m in self.saliency_methods if m not in SALIENCY_METHODS]
        if bad:
            raise ConfigError(f"unknown saliency methods {bad}; choose from {', '.join(SALIENCY_METHODS)}")
        if self.reduction not in ("abs", "positive"):
            raise ConfigError("reduction must be 'abs' or 'positive'")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}", option="dtype")
        if self.batch_size != "auto" and not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ConfigError(f"batch size must be a whole number >= 1 or 'auto', not {self.batch_size!r}",
                              option="batch_size")
        self.cycle_config(1)  # validates

    def cycle_config(self, batch_size: int | None = None) -> CycleERFConfig:
        """The cycle-ERF settings (``batch_size`` reference frames per batch; default: this config's)."""
        size = batch_size or self.batch_size
        if size == "auto":
            raise ConfigError("batch size 'auto' is chosen when a build starts (resolve it first)",
                              option="batch_size")
        return CycleERFConfig(self.steps, self.rate, self.gamma, int(size), bootstrap=self.bootstrap)

    @property
    def map_keys(self) -> list[MapKey]:
        """The maps each frame holds."""
        k: list[MapKey] = []
        if "cycle" in self.methods:
            k.append(CYCLE)
        if "classic" in self.methods:
            k += [MapKey.erf("query"), MapKey.erf("memory")]
        if "saliency" in self.methods:
            for m in self.saliency_methods:
                k += [MapKey.saliency(m, "query"), MapKey.saliency(m, "memory")]
        return k

    @property
    def keys(self) -> list[str]:
        """Stored names of the maps each frame holds (:attr:`MapKey.name` of :attr:`map_keys`)."""
        return [k.name for k in self.map_keys]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AtlasConfig":
        d = dict(d)
        for key in ("methods", "saliency_methods"):
            d[key] = tuple(d[key])
        return cls(**d)


def model_fingerprint(model: MemoryModel) -> str:
    """SHA-256 of the checkpoint file, or of the weights for a model built in memory."""
    if model.checkpoint is not None:
        return model.checkpoint.sha256
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def sequence_fingerprint(sequence: VideoSequence) -> dict[str, Any]:
    """The data version: the synthetic generator's version and config, or the files' names and sizes."""
    h = hashlib.sha256()
    for p in list(sequence.frame_paths) + [sequence.annotation_paths[i] for i in sorted(sequence.annotation_paths)]:
        h.update(p.name.encode())
        h.update(str(p.stat().st_size).encode())
    out: dict[str, Any] = {"files_sha256": h.hexdigest()}
    root = sequence.frame_paths[0].parents[3] if len(sequence.frame_paths[0].parents) > 3 else None
    info = synth_info(root) if root is not None else None
    if info is not None:
        cfg = json.dumps(info.get("config"), sort_keys=True).encode()
        out["synth"] = {"version": info.get("version"), "config_sha256": hashlib.sha256(cfg).hexdigest()}
    return out


#: config fields that do not change the maps (left out when two atlases or stores are compared)
NOT_SETTINGS = ("batch_size",)


#: the precisions an atlas can be computed in
DTYPES = ("float32", "bfloat16")


def settings_of(config: dict[str, Any] | None) -> dict[str, Any]:
    """A stored config without the fields that do not change the maps (:data:`NOT_SETTINGS`); an atlas
    stored before ``dtype`` existed is float32."""
    out = {k: v for k, v in (config or {}).items() if k not in NOT_SETTINGS}
    if out.get("dtype", "float32") == "float32":
        out.pop("dtype", None)
    return out
