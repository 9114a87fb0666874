"""What is known about a loaded checkpoint: :class:`CheckpointInfo` (``model.checkpoint``).

Below both networks (:mod:`erfkit.model.stm` and :mod:`erfkit.model.xmem`, which
type their ``checkpoint`` attribute with it) and the loader (:mod:`erfkit.model.checkpoint`, which fills it).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.letterbox import PAPER_SIZE, InputSize, parse_size
from ..errors import CheckpointError, ConfigError
from .presets import ModelConfig, XMemConfig

__all__ = ["CheckpointInfo", "file_sha256", "MODEL_FILE"]

MODEL_FILE = "model.safetensors"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class CheckpointInfo:
    """What is known about a loaded checkpoint (``model.checkpoint``).

    Attributes:
        path: the file read.
        format: ``"erfkit"``, ``"stm-official"``, ``"stm-training"``,
            ``"xmem-released"`` or ``"xmem-training"``.
        config: the architecture (:class:`ModelConfig` of an STM,
            :class:`XMemConfig` of an XMem).
        metadata: our metadata (training mode, data, step, seed, metrics ...),
            or what the foreign file carried (``epoch``, ``max_skip``; XMem's ``it``).
        notes: what the loader filled in or ignored (e.g. default mean/std).
    """

    path: str
    format: str
    config: ModelConfig | XMemConfig
    metadata: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _sha256: str | None = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        """SHA-256 of the checkpoint file (computed once)."""
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    @property
    def input_size(self) -> InputSize:
        """The network input size the checkpoint was trained at: the default size policy for it.

        Our checkpoints record it (metadata ``input_size``: ``"HxW"`` or
        ``"native"``); the authors' STM-Training checkpoints mean 240x427 (their
        training and test size); the released STM weights mean native (their
        DAVIS evaluation runs at 480p), and so do XMem's (its evaluation resizes
        the shorter side to 480: DAVIS's own size).  Our checkpoints without the
        key are taken as native.
        """
        if self.format == "stm-training":
            return PAPER_SIZE
        if self.format in ("stm-official", "xmem-released", "xmem-training"):
            return None
        try:
            return parse_size(self.metadata.get("input_size", "native"))
        except ConfigError as e:
            raise CheckpointError(f"metadata input_size: {e}", self.path) from None

    @property
    def label(self) -> str:
        """A short human name: the run's label, else the file's folder or stem."""
        if self.metadata.get("label"):
            return str(self.metadata["label"])
        p = Path(self.path)
        return p.parent.name if p.name == MODEL_FILE else p.stem
