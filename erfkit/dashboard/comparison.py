"""What the dashboard shows, computed without a browser: two checkpoints on one video, frame by frame.

::

    cmp = Comparison.open(DashboardSettings(), "synth-distractor-000")
    view = cmp.frame_view(12, obj=1, view=ViewSettings(), wrt="memory")
    view.rows          # [(image [H, W, 3] uint8, caption), ...] per checkpoint, then the A - B row
    view.figure_bytes("png"), view.npz_bytes()

The page (:mod:`erfkit.dashboard.app`) only lays these out.  Maps and
segmentations come from each checkpoint's :class:`~erfkit.explain.views.MapStore`:
a frame whose maps are stored (in an atlas or the cache) is shown without
running the model.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from ..data.davis import DavisDataset
from ..data.masks import mask_bytes
from ..data.video import VideoSequence
from ..errors import ConfigError, DataError
from ..evaluation.video import has_ground_truth, score_video
from ..explain.atlas import Atlas
from ..explain.keys import CYCLE, MapKey
from ..explain.views import MapStore, ViewSettings, find_atlases
from ..model.checkpoint import load_checkpoint
from ..viz.maps import display_values
from ..viz.render import difference_panel, frame_with_outlines, map_panel, map_panels, thumbnail
from ..viz.video import write_animation
from .settings import DashboardSettings

__all__ = ["Comparison", "FrameView", "VideoSummary", "MetricTables", "SIDES"]

#: the two checkpoints' names on the page
SIDES = ("A", "B")
Progress = Callable[[str], None]


@dataclass
class VideoSummary:
    """One checkpoint's segmentation of the whole video.

    Attributes:
        label: the checkpoint's name.
        jf: J&F of the video (DAVIS protocol), ``None`` when not every frame has ground truth.
        per_frame_j: mean J over objects per frame (NaN at the first and last frame); empty without ground truth.
    """

    label: str
    jf: float | None
    per_frame_j: list[float] = field(default_factory=list)


@dataclass
class FrameView:
    """Everything shown for one frame, object and setting: panels, and what the exports hold.

    Attributes:
        frame: the frame index; name: its name.
        image: ``[H, W, 3]`` the frame.
        truth: ``[H, W]`` bool, the object's ground truth (``None`` where the frame has none).
        labels: each checkpoint's name.
        preds: each checkpoint's ``[H, W]`` bool prediction of the object.
        keys: the maps shown, in order.
        maps: each checkpoint's maps ``{key: [H, W]}`` of the object (raw values).
        rows: per checkpoint, ``(image, caption)`` panels: the frame with outlines, then each map.
        difference: ``(image, caption)`` panels of A - B on the same display values.
        title: a title for exports.
    """

    frame: int
    name: str
    image: np.ndarray
    truth: np.ndarray | None
    labels: list[str]
    preds: list[np.ndarray]
    keys: list[MapKey]
    maps: list[dict[MapKey, np.ndarray]]
    rows: list[list[tuple[np.ndarray, str]]]
    difference: list[tuple[np.ndarray, str]]
    title: str
    shared: bool = True
    scale: str = "log"

    def figure_bytes(self, fmt: str) -> bytes:
        """The view as a figure (``png`` or ``pdf``): frame, each checkpoint's maps, A - B."""
        import matplotlib.pyplot as plt

        from ..viz.figures import comparison_figure
        from ..viz.style import paper_style

        rows = [(label, pred, {k.title: self.maps[i][k] for k in self.keys})
                for i, (label, pred) in enumerate(zip(self.labels, self.preds))]
        with paper_style():
            fig = comparison_figure(self.image, self.truth, rows, shared=self.shared, scale=self.scale,
                                    title=self.title)
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=200)
            plt.close(fig)
        return buf.getvalue()

    def npz_bytes(self) -> bytes:
        """The frame, each checkpoint's maps of the object and its prediction, as ``.npz``."""
        arrays = {"frame": self.image}
        for i, side in enumerate(SIDES[:len(self.maps)]):
            arrays.update({f"{side}_{k.name}": m for k, m in self.maps[i].items()})
            arrays[f"{side}_pred"] = self.preds[i]
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @property
    def stem(self) -> str:
        """A file name stem for exports."""
        return self.title.split(",")[0] + f"-{self.name}"


@dataclass
class MetricTables:
    """The metric tables of one object: this frame, the video's means, and curves over time."""

    frame: pd.DataFrame
    video: pd.DataFrame
    energy: pd.DataFrame
    j: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.frame.empty and self.video.empty


class Comparison:
    """Two checkpoints (A, B) on one video of a dataset.

    Args:
        video: the video.
        stores: one :class:`MapStore` per checkpoint.
    """

    def __init__(self, video: VideoSequence, stores: list[MapStore]):
        if len(stores) != 2:
            raise ConfigError(f"a comparison holds two checkpoints, got {len(stores)}", option="checkpoint")
        self.video = video
        self.stores = stores
        self._summaries: dict[str, list[VideoSummary]] = {}

    @classmethod
    def open(cls, settings: DashboardSettings, sequence: str, *, dataset: DavisDataset | None = None,
             atlases: list[Atlas] | None = None, models: dict | None = None) -> "Comparison":
        """Open ``sequence`` of the settings' dataset with the settings' two checkpoints.

        ``dataset``, ``atlases`` and ``models`` (path -> loaded model) may be
        passed to share what is already open.
        """
        if len(settings.checkpoints) != 2:
            raise ConfigError("give two checkpoints (A and B)", option="checkpoint")
        ds = dataset or DavisDataset(settings.data, settings.split)
        video = ds[sequence]
        found = atlases if atlases is not None else find_atlases(settings.atlas)
        models = models if models is not None else {}
        stores = []
        for path in settings.checkpoints:
            model = models.get(path) or load_checkpoint(path)
            stores.append(MapStore(model, video, found, settings.cache))
        return cls(video, stores)

    # --------------------------------------------------------------- the video
    @property
    def labels(self) -> list[str]:
        """The checkpoints' names."""
        return [s.label for s in self.stores]

    @property
    def objects(self) -> list[int]:
        """The objects given in the video (ids)."""
        return sorted(self.video.object_frames)

    def summary(self, view: ViewSettings, progress: Progress | None = None) -> list[VideoSummary]:
        """Each checkpoint's J&F and per-frame J (segmenting the video only when no stored result has it)."""
        size = self.stores[0].size(view) + "|" + self.stores[1].size(view)
        if size in self._summaries:
            return self._summaries[size]
        out = []
        scored = has_ground_truth(self.video) and len(self.video) >= 3
        for store in self.stores:
            if not scored:
                out.append(VideoSummary(store.label, None))
                continue
            s = score_video(self.video, store.labels(view, progress))
            out.append(VideoSummary(store.label, s.jf, [float("nan"), *map(float, s.J.mean(0)), float("nan")]))
        self._summaries[size] = out
        return out

    # --------------------------------------------------------------- one frame
    def frame_view(self, frame: int, obj: int, view: ViewSettings, wrt: str, *, shared: bool = True,
                   scale: str = "log", progress: Progress | None = None) -> FrameView:
        """The panels of frame ``frame`` for object ``obj``: computing only the maps no store holds."""
        if obj not in self.objects:
            raise ConfigError(f"object {obj} is not in {self.video.name} (objects: {self.objects})")
        k = self.objects.index(obj)
        keys = [CYCLE, MapKey.erf(wrt), MapKey.saliency(view.saliency_method, wrt)]  # type: ignore[arg-type]
        stored = [store.get(frame, keys, view, progress) for store in self.stores]
        image = self.video.read_frame(frame)
        truth = self.video.read_annotation(frame) == obj if frame in self.video.annotation_paths else None
        maps = [{key: m[key][k].astype(np.float32) for key in keys} for m in stored]
        preds = [m["pred"] == obj for m in stored]
        shown = {key: display_values([m[key] for m in maps], scale, shared) for key in keys}
        tops = {key: [float(m[key].max()) for m in maps] for key in keys}
        width = map_panel(np.zeros(image.shape[:2]), None).shape[1]
        rows = []
        for i, label in enumerate(self.labels):
            row = [(_pad(frame_with_outlines(image, truth, preds[i]), width),
                    f"{SIDES[i]}: {label} - frame {self.video.frame_name(frame)} "
                    "(solid: ground truth, dashed: prediction)")]
            for key in keys:
                top = max(tops[key]) if shared else tops[key][i]
                row.append((map_panel(shown[key][i], image, truth, top, scale), f"{SIDES[i]}: {key.title}"))
            rows.append(row)
        difference = [(difference_panel(shown[key][0], shown[key][1], truth), f"A - B: {key.title}")
                      for key in keys]
        title = (f"{self.video.name}, frame {self.video.frame_name(frame)}, object {obj}, "
                 f"target {view.target}")
        return FrameView(frame, self.video.frame_name(frame), image, truth, self.labels, preds, keys, maps, rows,
                         difference, title, shared, scale)

    def compute_frames(self, frames: Iterable[int], view: ViewSettings, wrt: str | None = None,
                       progress: Callable[[int, int], None] | None = None) -> None:
        """Compute (or find) every map of ``frames`` for both checkpoints; ``progress(done, total)`` after each."""
        frames = list(frames)
        for i, t in enumerate(frames):
            for store in self.stores:
                store.get(t, view.map_keys(wrt), view)
            if progress is not None:
                progress(i + 1, len(frames))

    def computed_frames(self, view: ViewSettings) -> list[int]:
        """Frames whose cycle-ERF both checkpoints have."""
        return sorted(set.intersection(*(s.available(CYCLE, view) for s in self.stores)))

    def overview(self, frame: int, obj: int, view: ViewSettings, scale: str = "log") -> list[np.ndarray]:
        """Thumbnails of frame ``frame`` and the two cycle-ERFs on it (shared scale)."""
        k = self.objects.index(obj)
        image = self.video.read_frame(frame)
        a, b = (s.get(frame, [CYCLE], view)[CYCLE][k].astype(np.float32) for s in self.stores)
        va, vb = display_values([a, b], scale, True)
        return [thumbnail(image), thumbnail(map_panel(va, image)), thumbnail(map_panel(vb, image))]

    # ---------------------------------------------------------------- downloads
    def animation(self, side: int, key: MapKey, obj: int, view: ViewSettings, fmt: str = "gif",
                  scale: str = "log", fps: float = 8.0) -> bytes:
        """Checkpoint ``side``'s map ``key`` of ``obj`` on every frame computed so far, as a GIF or MP4.

        Raises:
            DataError: no frame has that map yet.
        """
        store = self.stores[side]
        frames = sorted(store.available(key, view))
        if not frames:
            raise DataError(f"no frame has its {key.title} computed yet", self.video.name)
        k = self.objects.index(obj)
        data = [store.get(t, [key], view) for t in frames]
        images = map_panels([d[key][k].astype(np.float32) for d in data],
                            [self.video.read_frame(t) for t in frames], [d["pred"] == obj for d in data], scale)
        with tempfile.TemporaryDirectory() as tmp:
            path = write_animation(Path(tmp) / f"a.{fmt}", images, fps)
            return path.read_bytes()

    def masks_zip(self, side: int, view: ViewSettings) -> bytes:
        """Checkpoint ``side``'s segmentation of every frame as DAVIS-format PNGs (``<video>/<frame>.png``), zipped."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:  # PNGs are compressed already
            for t, labels in enumerate(self.stores[side].labels(view)):
                z.writestr(f"{self.video.name}/{self.video.frame_name(t)}.png", mask_bytes(labels))
        return buf.getvalue()

    # ------------------------------------------------------------------ metrics
    def metrics(self, view: ViewSettings, obj: int, frame: int, summaries: list[VideoSummary]) -> MetricTables:
        """The metric rows of ``obj`` from what is stored: this frame, the video's means, curves over time."""
        columns = ("method", "frame", "energy", "pointing", "area50", "deletion", "insertion", "sanity")
        rows = [{"checkpoint": label, **{c: r[c] for c in columns}}
                for label, store in zip(self.labels, self.stores)
                for r in store.metrics(view) if r["object"] == obj]
        df = pd.DataFrame(rows)
        j = pd.DataFrame({s.label: s.per_frame_j for s in summaries if s.per_frame_j}, index=self.video.frame_names)
        if df.empty:
            return MetricTables(df, df, pd.DataFrame(), j)
        name = self.video.frame_name(frame)
        this = df[df["frame"] == name].drop(columns="frame")
        groups = df.groupby(["checkpoint", "method"])
        per_video = groups.mean(numeric_only=True).reset_index()
        per_video.insert(2, "frames", groups.size().values)
        energy = df[df["method"] == CYCLE.name].pivot_table(index="frame", columns="checkpoint", values="energy")
        return MetricTables(this, per_video, energy, j)


def _pad(img: np.ndarray, width: int) -> np.ndarray:
    """Pad a frame on the right to a map panel's width (panels carry a colour bar), so all show at one scale."""
    pad = np.full((img.shape[0], max(0, width - img.shape[1]), 3), 255, np.uint8)
    return np.concatenate([img, pad], axis=1)

