"""The dashboard's settings: one dataclass holding every default, carried to the page as a script argument.

``erfkit dashboard`` builds :class:`DashboardSettings` from its flags (their
defaults are this class's) and passes them to the page as one JSON script
argument (``streamlit run app.py -- '{"data": ...}'``); the page reads them
back with :meth:`DashboardSettings.from_argv`.  No environment variables.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..data.synth import default_synth_root
from ..errors import ConfigError

__all__ = ["DashboardSettings", "DEFAULT_CHECKPOINTS", "DEFAULT_CACHE", "TRUTH_KINDS", "find_checkpoints"]

#: what a dataset's annotations can be
TRUTH_KINDS = ("ground truth", "pseudo ground truth")

_REPO = Path(__file__).resolve().parents[2]
#: the two shipped checkpoints (A: baseline, B: cyclic) of a checkout of erfkit
DEFAULT_CHECKPOINTS = (_REPO / "checkpoints" / "stm-tiny-baseline", _REPO / "checkpoints" / "stm-tiny-cyclic")
#: where maps computed on demand are kept (relative to the working directory)
DEFAULT_CACHE = Path("runs") / "dashboard-cache"


def _default_data() -> str:
    return str(default_synth_root())


@dataclass(frozen=True)
class DashboardSettings:
    """What the dashboard opens.

    Attributes:
        data: a DAVIS-layout dataset (default: the synthetic benchmark).
        split: its split.
        checkpoints: checkpoint A and checkpoint B.
        atlas: folders holding atlases built with ``erfkit erf``.
        cache: where maps computed on demand are kept.
        size: the network's input size: ``"checkpoint"`` (each checkpoint's
            training size), ``"HxW"`` or ``"native"``.
        truth_kind: what the dataset's annotations are, named beside every metric:
            ``"ground truth"`` or ``"pseudo ground truth"`` (e.g. OSVOS masks).
    """

    data: str = field(default_factory=_default_data)
    split: str = "val"
    checkpoints: tuple[str, str] = tuple(str(c) for c in DEFAULT_CHECKPOINTS)  # type: ignore[assignment]
    atlas: tuple[str, ...] = ()
    cache: str = str(DEFAULT_CACHE)
    size: str = "checkpoint"
    truth_kind: str = "ground truth"

    def __post_init__(self) -> None:
        if self.truth_kind not in TRUTH_KINDS:
            raise ConfigError(f"truth_kind must be one of {', '.join(TRUTH_KINDS)}, not {self.truth_kind!r}")

    @classmethod
    def from_argv(cls, argv: list[str]) -> "DashboardSettings":
        """Settings from the page's script arguments (:meth:`to_argv`); none: the defaults.

        Raises:
            ConfigError: an argument that is not the settings' JSON.
        """
        if not argv:
            return cls()
        try:
            d = json.loads(argv[-1])
            return cls(**{**d, "checkpoints": tuple(d["checkpoints"]), "atlas": tuple(d["atlas"])})
        except (json.JSONDecodeError, TypeError, KeyError) as e:
            raise ConfigError(f"the dashboard page takes its settings as one JSON argument ({e})") from None

    def to_argv(self) -> list[str]:
        """The script arguments that :meth:`from_argv` reads back as these settings."""
        return [json.dumps(dataclasses.asdict(self))]

    def resolved(self) -> "DashboardSettings":
        """The same settings with absolute paths (the page may run in another directory)."""
        return dataclasses.replace(self, data=str(Path(self.data).resolve()),
                                   checkpoints=tuple(str(Path(c).resolve()) for c in self.checkpoints),
                                   atlas=tuple(str(Path(a).resolve()) for a in self.atlas),
                                   cache=str(Path(self.cache).resolve()))


def _is_checkpoint(p: Path) -> bool:
    return (p.is_dir() and (p / "model.safetensors").is_file()) or (
        p.is_file() and p.suffix in (".safetensors", ".pth", ".pt"))


def find_checkpoints(given: tuple[str, ...] | list[str]) -> list[str]:
    """The checkpoints the page offers: those given, then the others beside them and in the shipped folder.

    A checkpoint is a folder holding ``model.safetensors`` or a ``.safetensors``,
    ``.pth`` or ``.pt`` file; the folders searched are the parents of the given
    ones and ``checkpoints/`` of this checkout (one level, sorted).
    """
    out = [str(Path(c)) for c in given]
    parents = dict.fromkeys([Path(c).parent for c in given] + [DEFAULT_CHECKPOINTS[0].parent])
    for folder in parents:
        try:
            children = sorted(folder.iterdir())
        except OSError:
            continue
        out += [str(c) for c in children if _is_checkpoint(c)]
    return list(dict.fromkeys(out))
