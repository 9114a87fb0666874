"""The paper's experiments (Tables 3-5, Figures 1 and 3-6) as commands: ``erfkit experiment NAME``."""

from .figures import PropagationResult, cycle_erf_figure, error_propagation, pick_distractor_video, qualitative
from .paper import EXPERIMENTS, FIGURES, PAPER, PAPER_GC, run_experiment, write_all
from .runs import RunScore, Setting, bounding_box_masks, model_masks, run_setting

__all__ = ["EXPERIMENTS", "FIGURES", "PAPER", "PAPER_GC", "run_experiment", "write_all", "Setting", "RunScore",
           "run_setting", "bounding_box_masks", "model_masks", "pick_distractor_video", "error_propagation",
           "qualitative", "cycle_erf_figure", "PropagationResult"]
