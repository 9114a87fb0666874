"""Training STM, baseline or cyclic: config presets, the training step, the resumable loop."""

from .config import TRAIN_PRESETS, TrainConfig, apply_overrides, load_config_file, train_config
from .step import TrainStep
from .trainer import TrainingError, fit, train, validate

__all__ = ["TrainConfig", "TRAIN_PRESETS", "train_config", "apply_overrides", "load_config_file", "TrainStep",
           "train", "fit", "validate", "TrainingError"]
