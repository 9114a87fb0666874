"""An atlas as an animation: each stored frame with one map overlaid, one output frame per atlas frame.

::

    render_atlas(Atlas("atlas/cyc"), "cyc.gif", key=CYCLE, object_id=1)

The map is shown on one scale for the whole video (``log10(1 + map)`` over
its maximum over every frame), over the dimmed frame, with the object's
predicted mask (stored in the atlas) outlined.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.masks import list_images, read_frame
from ..data.video import FRAME_SUFFIXES
from ..errors import ConfigError, DataError
from ..explain.atlas import Atlas
from ..explain.keys import CYCLE, MapKey
from ..viz.render import map_panels
from ..viz.video import write_animation

__all__ = ["render_atlas", "atlas_frames_dir"]


def atlas_frames_dir(atlas: Atlas) -> Path:
    """The folder of the atlas's video frames, as recorded when it was built.

    Raises:
        DataError: the atlas does not record it (built before erfkit recorded it) or it is gone.
    """
    recorded = atlas.index.get("frames_dir")
    if recorded is None:
        raise DataError("atlas does not record where its frames are; give the frames folder", atlas.path,
                        option="frames_dir")
    if not Path(recorded).is_dir():
        raise DataError(f"the atlas's frames folder {recorded} is gone; give the frames folder", atlas.path,
                        option="frames_dir")
    return Path(recorded)


def render_atlas(atlas: Atlas, out: str | os.PathLike, *, key: MapKey | str = CYCLE, object_id: int | None = None,
                 frames_dir: str | os.PathLike | None = None, fps: float = 8.0, scale: str = "log") -> Path:
    """Write ``out`` (``.gif`` or ``.mp4``): every computed frame of ``atlas`` with the map ``key`` of one object.

    Args:
        atlas: the atlas.
        out: the animation file.
        key: which map (default: the cycle-ERF).
        object_id: the object (default: the atlas's first).
        frames_dir: the video's frames (default: the folder the atlas records).
        fps: frames per second.
        scale: ``log`` or ``linear`` display values.

    Raises:
        ConfigError: a map or object the atlas lacks, an unknown suffix.
        DataError: no computed frame, a frame without a stored prediction, missing frame files.
    """
    key = MapKey.parse(key) if isinstance(key, str) else key
    if key not in atlas.map_keys:
        raise ConfigError(f"the atlas holds no {key.name} maps (it holds {', '.join(atlas.keys)})", option="method")
    objects = atlas.objects
    obj = objects[0] if object_id is None else object_id
    if obj not in objects:
        raise ConfigError(f"object {obj} is not in the atlas (objects: {objects})", option="object")
    k = objects.index(obj)
    done = sorted(atlas.done)
    if not done:
        raise DataError("the atlas holds no computed frame", atlas.path)
    folder = Path(frames_dir) if frames_dir is not None else atlas_frames_dir(atlas)
    paths = {p.stem: p for p in list_images(folder, FRAME_SUFFIXES)}
    maps, preds = [], []
    for i in done:
        data = atlas.load(i, [key.name, "pred"])
        if "pred" not in data:
            raise DataError(f"frame {atlas.frames[i]} holds no stored prediction", atlas.frame_file(i))
        maps.append(data[key.name][k].astype(np.float32))
        preds.append(data["pred"] == obj)
        if atlas.frames[i] not in paths:
            raise DataError(f"no frame {atlas.frames[i]} in the frames folder", folder)
    images = map_panels(maps, [read_frame(paths[atlas.frames[i]]) for i in done], preds, scale)
    return write_animation(out, images, fps)
