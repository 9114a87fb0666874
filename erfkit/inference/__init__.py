"""Segmenting videos: the streaming predictor, gradient correction, whole-dataset runs."""

from .copy_first import CopyFirst
from .correction import GCConfig, gradient_correction
from .feature_propagation import FeaturePropagation
from .descent import mask_descent, mask_descent_naive
from .predictor import MEMORY_STRATEGIES, FrameResult, Propagator, VideoPredictor
from .runner import SegmentStats, segment_dataset, segment_sequence
from .xmem_memory import XMemMemory, XMemMemoryConfig, XMemSchedule
from .xmem_predictor import XMemPredictor

__all__ = ["VideoPredictor", "Propagator", "CopyFirst", "FeaturePropagation", "FrameResult", "GCConfig", "gradient_correction", "mask_descent", "mask_descent_naive",
           "MEMORY_STRATEGIES", "segment_sequence", "segment_dataset", "SegmentStats",
           "XMemMemory", "XMemMemoryConfig", "XMemSchedule", "XMemPredictor"]
