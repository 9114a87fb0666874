"""The official DAVIS 2017 J&F protocol and YouTube-VOS seen/unseen scores."""

from .davis import DavisResults, SequenceScores, db_statistics, evaluate_davis, score_sequence
from .measures import bound_radius, frame_measures
from .pseudo_truth import PSEUDO_TRUTH_RULE, PseudoTruthRule, implausible_frames
from .onset import MaskEvent, Onset, error_onset, mask_events
from .video import has_ground_truth, score_video
from .youtube import YouTubeScores, evaluate_youtube

__all__ = ["error_onset", "Onset", "mask_events", "MaskEvent", "evaluate_davis", "score_sequence", "score_video", "has_ground_truth", "DavisResults", "SequenceScores", "db_statistics",
           "frame_measures", "bound_radius", "evaluate_youtube", "YouTubeScores", "PseudoTruthRule",
           "PSEUDO_TRUTH_RULE", "implausible_frames"]
