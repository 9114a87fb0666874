"""The paper's experiments (Tables 3-5, Figures 3-4) as commands."""

from .paper import EXPERIMENTS, PAPER, run_experiment
from .runs import RunScore, Setting, bounding_box_masks, model_masks, run_setting

__all__ = ["EXPERIMENTS", "PAPER", "run_experiment", "Setting", "RunScore", "run_setting", "bounding_box_masks",
           "model_masks"]
