"""Datasets (DAVIS, YouTube-VOS, a folder of frames), masks, the synthetic benchmark, the training sampler."""

from .davis import DavisDataset
from .folder import folder_sequence
from .masks import VOID, davis_palette, read_frame, read_mask, write_mask
from .synth import SYNTH_PRESETS, SynthConfig, make_synth
from .video import VideoSequence
from .youtube import YouTubeVOSDataset

__all__ = ["DavisDataset", "YouTubeVOSDataset", "VideoSequence", "folder_sequence", "read_mask", "write_mask",
           "read_frame", "davis_palette", "VOID", "make_synth", "SynthConfig", "SYNTH_PRESETS"]
