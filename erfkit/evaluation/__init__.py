"""The official DAVIS 2017 J&F protocol and YouTube-VOS seen/unseen scores."""

from .davis import DavisResults, SequenceScores, db_statistics, evaluate_davis, score_sequence
from .measures import bound_radius, frame_measures
from .onset import Onset, error_onset
from .video import has_ground_truth, score_video
from .youtube import YouTubeScores, evaluate_youtube

__all__ = ["error_onset", "Onset", "evaluate_davis", "score_sequence", "score_video", "has_ground_truth", "DavisResults", "SequenceScores", "db_statistics",
           "frame_measures", "bound_radius", "evaluate_youtube", "YouTubeScores"]
