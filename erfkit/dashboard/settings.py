"""The dashboard's settings: one dataclass holding every default, carried to the page as a script argument.

``erfkit dashboard`` builds :class:`DashboardSettings` from its flags (their
defaults are this class's) and passes them to the page as one JSON script
argument (``streamlit run app.py -- '{"data": ...}'``); the page reads them
back with :meth:`DashboardSettings.from_argv`.  No environment variables.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..data.davis import marked_pseudo_truth
from ..errors import ConfigError

__all__ = ["DashboardSettings", "DEFAULT_CHECKPOINTS", "DEFAULT_DATA", "DEFAULT_CACHE", "SPRITE_CHECKPOINTS",
           "TRUTH_KINDS", "find_checkpoints"]

#: what a dataset's annotations can be
TRUTH_KINDS = ("ground truth", "pseudo ground truth")

_REPO = Path(__file__).resolve().parents[2]
#: the default pair of a checkout of erfkit (A: baseline, B: cyclic): stm-lite0, ImageNet encoders, trained on tracks
DEFAULT_CHECKPOINTS = (_REPO / "checkpoints" / "stm-lite0-baseline", _REPO / "checkpoints" / "stm-lite0-cyclic")
#: the sprite pair (stm-tiny from scratch on the default synthetic benchmark), which the synthetic results use
SPRITE_CHECKPOINTS = (_REPO / "checkpoints" / "stm-tiny-baseline", _REPO / "checkpoints" / "stm-tiny-cyclic")
#: the demo data: two real DAVIS 2017 val videos, pseudo ground truth after frame 0 (its README)
DEFAULT_DATA = _REPO / "demo" / "davis2017-real"
#: where maps computed on demand are kept (relative to the working directory)
DEFAULT_CACHE = Path("runs") / "dashboard-cache"


@dataclass(frozen=True)
class DashboardSettings:
    """What the dashboard opens.

    Attributes:
        data: a DAVIS-layout dataset (default: the demo's two real videos, :data:`DEFAULT_DATA`).
        split: its split.
        checkpoints: checkpoint A and checkpoint B.
        atlas: folders holding atlases built with ``erfkit erf``.
        cache: where maps computed on demand are kept.
        size: the network's input size: ``"checkpoint"`` (each checkpoint's
            training size), ``"HxW"`` or ``"native"``.
        truth_kind: what the dataset's annotations are, named beside every metric:
            ``"ground truth"`` or ``"pseudo ground truth"`` (e.g. OSVOS masks).  A dataset
            marked as pseudo ground truth (:func:`erfkit.data.davis.marked_pseudo_truth`) is
            always ``"pseudo ground truth"``.
    """

    data: str = str(DEFAULT_DATA)
    split: str = "val"
    checkpoints: tuple[str, str] = tuple(str(c) for c in DEFAULT_CHECKPOINTS)  # type: ignore[assignment]
    atlas: tuple[str, ...] = ()
    cache: str = str(DEFAULT_CACHE)
    size: str = "checkpoint"
    truth_kind: str = "ground truth"

    def __post_init__(self) -> None:
        if self.truth_kind not in TRUTH_KINDS:
            raise ConfigError(f"truth_kind must be one of {', '.join(TRUTH_KINDS)}, not {self.truth_kind!r}")
        if marked_pseudo_truth(self.data):
            object.__setattr__(self, "truth_kind", "pseudo ground truth")

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
