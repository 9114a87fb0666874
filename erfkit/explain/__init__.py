"""Explanations: cycle-ERF, classic ERF, Captum saliency, map metrics, per-video atlases."""

from .atlas import ATLAS_METHODS, Atlas, AtlasConfig, build_atlas
from .base import Explainer, Explanation
from .cycle import CycleERF, CycleERFConfig, CycleERFResult, cycle_erf, cycle_erf_loop
from .erf import (ClassicERF, ERFResult, centred_average, classic_erf, erf_display, high_contribution_area_ratio,
                  object_centroid)
from .dataset import DatasetStore, explain_dataset
from .explainers import explainer_for
from .keys import CYCLE, MapKey
from .memory import MemoryAttention, memory_attention
from .temporal import TemporalAttribution, temporal_attribution
from .metrics import (METRIC_COLUMNS, basic_metrics, deletion_insertion, energy_inside, pointing_game,
                      randomized_model, sanity_similarity)
from .attribution import (SALIENCY_EXPLAINERS, SALIENCY_METHODS, CaptumExplainer, GradCAM, Gradient, InputXGradient,
                          IntegratedGradients, Occlusion, SaliencyConfig, SmoothGrad, saliency)

__all__ = ["cycle_erf", "cycle_erf_loop", "CycleERFConfig", "CycleERFResult", "classic_erf", "ERFResult",
           "object_centroid", "centred_average", "erf_display", "high_contribution_area_ratio", "saliency",
           "SaliencyConfig", "SALIENCY_METHODS", "energy_inside", "pointing_game", "deletion_insertion",
           "sanity_similarity", "randomized_model", "basic_metrics", "METRIC_COLUMNS", "Atlas", "AtlasConfig",
           "build_atlas", "ATLAS_METHODS", "Explainer", "Explanation", "explainer_for", "CycleERF", "ClassicERF",
           "CaptumExplainer", "Gradient", "InputXGradient", "IntegratedGradients", "SmoothGrad", "GradCAM", "Occlusion",
           "SALIENCY_EXPLAINERS", "MapKey", "CYCLE", "memory_attention",
           "MemoryAttention", "temporal_attribution", "TemporalAttribution", "explain_dataset", "DatasetStore"]
