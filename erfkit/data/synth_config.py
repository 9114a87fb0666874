"""What the synthetic benchmark holds and how hard it is: :class:`SynthConfig` and its presets.

Below both renderers (:mod:`erfkit.data.synth` for sprites, :mod:`erfkit.data.synth_tracks`
for real tracks), which take it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["SynthConfig", "SYNTH_PRESETS", "SHAPES", "TRACK_FIELDS"]


@dataclass(frozen=True)
class SynthConfig:
    """What the synthetic benchmark holds and how hard it is.

    Attributes:
        train_videos / val_videos: number of videos in each split.
        frames: frames per video.
        height / width: frame size in pixels.
        objects: ``(min, max)`` annotated objects per video.
        object_size: ``(min, max)`` object extent as a fraction of the frame height.
        speed: scales how far objects travel (1.0: 20-60% of the frame width
            over the video, plus a wobble).
        scale_change: largest factor by which an object grows or shrinks over
            the video (1.3 = up to x1.3 or /1.3).
        rotation: largest rotation of an object over the video, in degrees.
        occlusion_prob: chance that an object's path is made to cross another
            object's path (one hides the other).
        leave_prob: chance that an object leaves the frame mid-video and comes back.
        distractor_prob: chance that a video holds an unannotated look-alike
            copy of one target, crossing it mid-video.
        distractor_jitter: colour difference of the distractor (0: identical copy).
        camera_motion: background pan, as a fraction of the frame size.
        illumination: amplitude of the global brightness flicker (0.1 = +-10%).
        noise: standard deviation of pixel noise (0-255 scale).
        jpeg_quality: quality of the JPEG frames.
        seed: the seed; everything follows from it.
        shapes: ``"sprites"`` (rigid photographed objects) or ``"tracks"`` (real objects' masks over real
            videos: :mod:`erfkit.data.tracks`).
        tracks_root: the mask sequences of ``"tracks"`` (empty: the OSVOS masks beside the checkout).
        motion_blur: ``"tracks"``: blur along an object's motion, as a fraction of its motion per frame.
        zoom: ``"tracks"``: the largest zoom factor of the camera over a video (1: no zoom).
        clutter: ``"tracks"``: the most still, unannotated objects on the background (between half of it and
            it per video; 0: none): real outlines in photographed textures, so that the targets do not stand out.
    """

    train_videos: int = 60
    val_videos: int = 20
    frames: int = 32
    height: int = 240
    width: int = 427
    objects: tuple[int, int] = (1, 3)
    object_size: tuple[float, float] = (0.25, 0.45)
    speed: float = 1.0
    scale_change: float = 1.3
    rotation: float = 25.0
    occlusion_prob: float = 0.4
    leave_prob: float = 0.2
    distractor_prob: float = 0.4
    distractor_jitter: float = 0.08
    camera_motion: float = 0.1
    illumination: float = 0.08
    noise: float = 2.0
    jpeg_quality: int = 90
    seed: int = 0
    shapes: str = "sprites"
    tracks_root: str = ""
    motion_blur: float = 0.0
    zoom: float = 1.0
    clutter: int = 0

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ConfigError("a video needs at least 2 frames")
        if self.height < 32 or self.width < 32:
            raise ConfigError("frames must be at least 32x32")
        lo, hi = self.objects
        if not 1 <= lo <= hi <= 10:
            raise ConfigError("objects must satisfy 1 <= min <= max <= 10")
        if self.train_videos < 0 or self.val_videos < 0 or self.train_videos + self.val_videos == 0:
            raise ConfigError("at least one video is needed")
        for f in ("occlusion_prob", "leave_prob", "distractor_prob"):
            if not 0.0 <= getattr(self, f) <= 1.0:
                raise ConfigError(f"{f} must lie in [0, 1]")
        if self.shapes not in SHAPES:
            raise ConfigError(f"shapes must be one of {', '.join(SHAPES)}, not {self.shapes!r}")
        if self.motion_blur < 0 or self.zoom < 1:
            raise ConfigError("motion_blur must be >= 0 and zoom >= 1")
        if not 0 <= self.clutter <= 50:
            raise ConfigError("clutter must lie in [0, 50]")

    def to_dict(self) -> dict[str, Any]:
        """The fields; those of ``"tracks"`` only when used (so the sprite presets' files stay as they were)."""
        d = dataclasses.asdict(self)
        if self.shapes == "sprites":
            for f in TRACK_FIELDS:
                d.pop(f)
        return d


#: where object shapes come from
SHAPES = ("sprites", "tracks")
#: the fields only ``shapes="tracks"`` uses
TRACK_FIELDS = ("shapes", "tracks_root", "motion_blur", "zoom", "clutter")

SYNTH_PRESETS: dict[str, SynthConfig] = {
    "default": SynthConfig(),
    "tiny": SynthConfig(train_videos=4, val_videos=3, frames=8, height=64, width=112,
                        objects=(1, 2), distractor_prob=0.5),
    "hard": SynthConfig(objects=(2, 4), speed=1.6, occlusion_prob=0.7, leave_prob=0.4,
                        distractor_prob=1.0, distractor_jitter=0.03),
    # real shapes and motion, a zooming camera, motion blur, light that changes: made to transfer to real video
    "tracks": SynthConfig(train_videos=90, val_videos=20, objects=(1, 3), object_size=(0.3, 0.6),
                          occlusion_prob=0.5, leave_prob=0.25, distractor_prob=0.5, distractor_jitter=0.06,
                          camera_motion=0.08, illumination=0.12, noise=3.0, shapes="tracks", motion_blur=1.0,
                          zoom=1.4, clutter=20),
}
