"""What the dashboard shows, computed without a browser: two checkpoints on one video, frame by frame.

::

    cmp = Comparison.open(DashboardSettings(), "synth-distractor-000")
    masks = cmp.mask_panels(12, obj=1, view=ViewSettings())      # each prediction, filled, and warnings
    cycle = cmp.method_panels(12, 1, CYCLE, ViewSettings())       # A | B | A - B with their colour scales
    view = cmp.frame_view(12, obj=1, view=ViewSettings(), wrt="memory")
    view.figure_bytes("png"), view.npz_bytes()
    cmp.timeline(ViewSettings(), obj=1)                           # per-frame J or mask area, onsets
    cmp.memory_read(0, 12, 1, (120, 200), ViewSettings())         # the explorer: what the pixel reads

The page (:mod:`erfkit.dashboard.app`) only lays these out.  Maps and
segmentations come from each checkpoint's :class:`~erfkit.explain.views.MapStore`:
a frame whose maps are stored (in an atlas or the cache) is shown without
running the model.  Every computation holds :attr:`Comparison.lock`, so the
page and the background :class:`~erfkit.dashboard.worker.Worker` share the
model and the cache safely; what only reads (stored maps, segmentations in
memory, availability) does not wait for it.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from ..data.davis import DavisDataset
from ..data.letterbox import Letterbox, parse_size
from ..data.masks import mask_bytes
from ..data.video import VideoSequence
from ..device import at_once
from ..errors import ConfigError, DataError
from ..evaluation.onset import MaskEvent, error_onset, mask_events
from ..evaluation.pseudo_truth import PSEUDO_TRUTH_RULE, implausible_frames
from ..evaluation.video import has_ground_truth, score_video
from ..explain.atlas import Atlas
from ..explain.attribution import LAYER_METHODS
from ..explain.keys import CYCLE, MapKey
from ..explain.temporal import TemporalAttribution, temporal_attribution
from ..explain.views import MapStore, ViewSettings, find_atlases
from ..model.checkpoint import load_checkpoint
from ..viz.maps import display_tops, display_values
from ..viz.render import difference_panel, frame_with_masks, map_panel, map_panels, thumbnail
from ..viz.video import write_animation
from ..viz.style import HEAT_CMAP
from .display import (METRIC_NAMES, SIDES, ColourScale, Display, FrameView, MaskPanels, MethodPanels,
                      difference_scale, heat_scale)
from .settings import DashboardSettings

__all__ = ["Comparison", "VideoSummary", "MetricTables", "Timeline"]

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
class MetricTables:
    """The metric tables of one object: this frame, the video's means, and curves over time."""

    frame: pd.DataFrame
    video: pd.DataFrame
    energy: pd.DataFrame
    j: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.frame.empty and self.video.empty


@dataclass
class Timeline:
    """The video at a glance, for the strip under the frame.

    Attributes:
        names: the frame names.
        signal: ``"J"`` (against the annotations, every frame has one) or ``"mask area (%)"``.
        curves: each checkpoint's signal per frame.
        onset: each checkpoint's error onset (:func:`~erfkit.evaluation.error_onset`), ``None``: none.
        onset_signal: what the onset was found on (``"J"`` or ``"stability"``).
        divergence: the first frame where the two checkpoints' masks overlap less than the threshold.
        computed: frames whose cycle-ERF both checkpoints have.
        events: each checkpoint's suspicious masks (:func:`~erfkit.evaluation.mask_events`).
    """

    names: list[str]
    signal: str
    curves: dict[str, np.ndarray]
    onset: dict[str, int | None]
    onset_signal: str
    divergence: int | None
    computed: list[int]
    events: dict[str, list[MaskEvent]]

    def table(self) -> pd.DataFrame:
        """One row per (frame, checkpoint): ``frame``, ``name``, ``checkpoint``, ``value``, ``computed``."""
        done = set(self.computed)
        return pd.DataFrame([{"frame": t, "name": n, "checkpoint": label, "value": float(c[t]),
                              "computed": t in done}
                             for label, c in self.curves.items() for t, n in enumerate(self.names)])


_COMPUTE = threading.RLock()
_COUNT = threading.Lock()
_WAITING = [0]  # page requests waiting for _COMPUTE


class Comparison:
    """Two checkpoints (A, B) on one video of a dataset.

    Args:
        video: the video.
        stores: one :class:`MapStore` per checkpoint.
        names: how the page names each checkpoint (default: their labels, made distinct).
        truth_kind: what the dataset's annotations are: ``"ground truth"`` or ``"pseudo ground truth"``.
    """

    def __init__(self, video: VideoSequence, stores: list[MapStore], names: list[str] | None = None,
                 truth_kind: str = "ground truth"):
        if len(stores) != 2:
            raise ConfigError(f"a comparison holds two checkpoints, got {len(stores)}", option="checkpoint")
        self.video = video
        self.stores = stores
        self.labels = distinct([s.label for s in stores]) if names is None else list(names)
        self.truth_kind = truth_kind
        self._left_out: list[int] | None = None
        #: held by every computation (the page's and the background workers'): one for every comparison of the
        #: process, as comparisons of different videos share the loaded models (a Grad-CAM hook on a model
        #: caught another thread's forward pass; two computations at once are no faster on a CPU anyway)
        self.lock = _COMPUTE
        self._summaries: dict[str, list[VideoSummary]] = {}
        self._reads: OrderedDict[tuple, TemporalAttribution] = OrderedDict()  # the last READS memory reads
        self._events: dict[tuple, list[MaskEvent]] = {}
        self._images: OrderedDict[int, np.ndarray] = OrderedDict()
        self._metrics: dict[ViewSettings, tuple[tuple, list[list[dict]]]] = {}
        self._seconds: dict[str, float] = {}  # method group -> seconds per map and checkpoint (last measured)

    @property
    def waiting(self) -> int:
        """How many page requests (of any comparison) wait for the lock: the workers let them go first."""
        return _WAITING[0]

    def _after_page(self, background: bool) -> None:
        """For the background worker (``background=True``): wait until no page request waits for the lock."""
        while background and self.waiting:
            time.sleep(0.02)

    @contextlib.contextmanager
    def foreground(self, counted: bool = True):
        """While inside, the background worker starts no new map (the page wraps a whole view in it)."""
        if not counted:
            yield
            return
        with _COUNT:
            _WAITING[0] += 1
        try:
            yield
        finally:
            with _COUNT:
                _WAITING[0] -= 1

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
        names = distinct([s.label for s in stores], [Path(c).name for c in settings.checkpoints])
        return cls(video, stores, names, settings.truth_kind)

    # --------------------------------------------------------------- the video
    @property
    def objects(self) -> list[int]:
        """The objects given in the video (ids)."""
        return sorted(self.video.object_frames)

    def _image(self, frame: int) -> np.ndarray:
        """Frame ``frame`` ``[H, W, 3]``, decoded once for all the panels of a view (the last few kept)."""
        if frame not in self._images:
            self._images[frame] = self.video.read_frame(frame)
            while len(self._images) > IMAGES:
                self._images.popitem(last=False)
        self._images.move_to_end(frame)
        return self._images[frame]

    def _truth(self, frame: int, obj: int) -> np.ndarray | None:
        """``[H, W]`` bool: the object's annotation on ``frame`` (``None`` where the frame has none)."""
        return self.video.read_annotation(frame) == obj if frame in self.video.annotation_paths else None

    def _slot(self, obj: int) -> int:
        if obj not in self.objects:
            raise ConfigError(f"object {obj} is not in {self.video.name} (objects: {self.objects})")
        return self.objects.index(obj)

    def segmentation(self, side: int, view: ViewSettings, progress: Progress | None = None) -> list[np.ndarray]:
        """Checkpoint ``side``'s ``[H, W]`` object ids of every frame (segmented once, then stored)."""
        store = self.stores[side]
        if store.has_labels(view):  # in memory: no need to wait for the worker's map
            return store.labels(view)
        with self.lock:
            return store.labels(view, progress)

    def segmentation_until(self, side: int, view: ViewSettings, frame: int, background: bool = False) \
            -> list[np.ndarray]:
        """Checkpoint ``side``'s ``[H, W]`` object ids of frames ``0..frame`` at least, segmenting no further than
        asked (:meth:`MapStore.labels_until`): a frame's masks show before the rest of the video is segmented.

        ``background=True`` (the worker): yield to any page request waiting for the lock first.
        """
        store = self.stores[side]
        if store.has_labels(view):
            return store.labels(view)
        self._after_page(background)
        with self.lock:
            return store.labels_until(view, frame)

    def segmented(self, view: ViewSettings) -> int:
        """How many frames both checkpoints have segmented so far (the video's length once both are done)."""
        return min(s.segmented(view) for s in self.stores)

    def fully_segmented(self, view: ViewSettings) -> bool:
        """Whether both segmentations of the whole video are at hand (in memory, stored or cached)."""
        return all(s.labels(view, segment=False) is not None for s in self.stores)

    def events(self, side: int, view: ViewSettings, obj: int) -> list[MaskEvent]:
        """Checkpoint ``side``'s suspicious masks of ``obj`` (:func:`~erfkit.evaluation.mask_events`), kept."""
        key = (side, self.stores[side].size(view), obj)
        if key not in self._events:
            self._events[key] = mask_events(self.segmentation(side, view), obj)
        return self._events[key]

    def summary(self, view: ViewSettings, progress: Progress | None = None) -> list[VideoSummary]:
        """Each checkpoint's J&F and per-frame J (segmenting the video only when no stored result has it)."""
        size = self.stores[0].size(view) + "|" + self.stores[1].size(view)
        if size in self._summaries:
            return self._summaries[size]
        out = []
        scored = has_ground_truth(self.video) and len(self.video) >= 3
        for side, label in enumerate(self.labels):
            labels = self.segmentation(side, view, progress)
            if not scored:
                out.append(VideoSummary(label, None))
                continue
            s = score_video(self.video, labels)
            per_frame = np.array([np.nan, *s.J.mean(0), np.nan])
            per_frame[self.left_out()] = np.nan
            s = s.without([self.video.frame_name(t) for t in self.left_out()])
            out.append(VideoSummary(label, s.jf, [float(v) for v in per_frame]))
        self._summaries[size] = out
        return out

    def left_out(self) -> list[int]:
        """Frames whose pseudo ground truth is implausible, left out of J, J&F and the timeline
        (:data:`~erfkit.evaluation.PSEUDO_TRUTH_RULE`); real ground truth is never left out."""
        if self._left_out is None:
            pseudo = self.truth_kind == "pseudo ground truth" and has_ground_truth(self.video)
            self._left_out = implausible_frames([self.video.read_annotation(t) for t in range(len(self.video))]) \
                if pseudo else []
        return self._left_out

    def left_out_note(self) -> str | None:
        """What the page says about :meth:`left_out` (``None``: nothing was left out)."""
        left = self.left_out()
        if not left:
            return None
        names = ", ".join(self.video.frame_name(t) for t in left)
        return (f"{len(left)} of {len(self.video)} frames left out of J, J&F and the timeline: {PSEUDO_TRUTH_RULE.describe()} "
                f"({names})")

    def stored_summary(self, view: ViewSettings) -> list[VideoSummary] | None:
        """:meth:`summary`, when both segmentations are stored or cached (``None``: it would segment)."""
        if any(self.stores[i].labels(view, segment=False) is None for i in range(2)):
            return None
        return self.summary(view)

    def jf_missing(self) -> str | None:
        """Why J&F cannot be shown (``None``: it can)."""
        if len(self.video) < 3:
            return "J&F leaves out the first and last frame: this video has fewer than 3 frames"
        given = sorted(self.video.annotation_paths)
        if len(given) < len(self.video):
            names = ", ".join(map(self.video.frame_name, given[:5])) + (" ..." if len(given) > 5 else "")
            return (f"J&F needs an annotation on every frame; {self.video.name} has {len(given)} of "
                    f"{len(self.video)} ({names})")
        return None

    def timeline(self, view: ViewSettings, obj: int, threshold: float = 0.5) -> Timeline:
        """Per-frame J of ``obj`` (or its mask area), onsets, divergence, computed frames and mask warnings."""
        self._slot(obj)
        labels = {label: self.segmentation(i, view) for i, label in enumerate(self.labels)}
        rule = PSEUDO_TRUTH_RULE if self.truth_kind == "pseudo ground truth" else None
        onset = error_onset(self.video, labels, object_id=obj, threshold=threshold, pseudo_truth=rule)
        if onset.signal == "J":  # the left-out frames are NaN in the curves, and never an onset
            curves, signal = {k: c.astype(float).copy() for k, c in onset.curves.items()}, "J"
        else:
            curves = {k: np.array([100.0 * float((m == obj).mean()) for m in lab]) for k, lab in labels.items()}
            signal = "mask area (%)"
        return Timeline(self.video.frame_names, signal, curves, onset.onset, onset.signal, onset.divergence,
                        self.computed_frames(view), {k: self.events(i, view, obj) for i, k in enumerate(labels)})

    # --------------------------------------------------------------- one frame
    def keys(self, view: ViewSettings, wrt: str) -> list[MapKey]:
        """The map kinds a view shows: cycle-ERF, classic ERF and the saliency method, of the side ``wrt``."""
        return view.map_keys(wrt)

    def pending(self, frame: int, keys: Iterable[MapKey], view: ViewSettings) -> list[tuple[int, MapKey]]:
        """``(side, key)`` of the maps of ``frame`` that no store holds yet."""
        return [(i, k) for k in keys for i, s in enumerate(self.stores) if frame not in s.available(k, view)]

    def eta(self, units: Iterable[tuple[int, MapKey]]) -> float | None:
        """Seconds the maps ``units`` should take, from the last measured time of each method (``None``: unknown)."""
        units = list(units)
        if not units:
            return 0.0
        known = [self._seconds.get(k.group) for _, k in units]
        return None if None in known else float(sum(known))  # type: ignore[arg-type]

    def maps(self, side: int, frame: int, keys: list[MapKey], view: ViewSettings,
             progress: Progress | None = None, background: bool = False) -> dict:
        """Checkpoint ``side``'s maps ``keys`` of ``frame`` (``[K, H, W]`` each) and ``"pred"``, computed if missing.

        ``background=True`` (the worker): yield to any page request waiting for the lock first.
        """
        store = self.stores[side]
        if not background and all(frame in store.available(k, view) for k in keys):
            return store.get(frame, keys, view)  # stored: read without waiting for the worker's map
        self._after_page(background)
        with self.foreground(not background), self.lock:
            missing = [k for k in keys if frame not in store.available(k, view)]
            t0 = time.perf_counter()
            out = store.get(frame, keys, view, progress)
            if len(missing) == 1:  # one method timed alone: its cost per map
                self._seconds[missing[0].group] = time.perf_counter() - t0
        return out

    def maps_of_both(self, frame: int, keys: list[MapKey], view: ViewSettings,
                     progress: Progress | None = None) -> list[dict]:
        """A's and B's :meth:`maps` ``keys`` of ``frame``.

        When both checkpoints have maps to compute on the CPU, they are computed at once, each in its own
        thread with single-threaded operations (two networks on a core each keep two cores busier than one
        network on two intra-op threads: ``benchmarks.dashboard_latency`` measures the page).  Not when A and
        B are one checkpoint (one model, one cache) or a GPU holds them.
        """
        missing = [[k for k in keys if frame not in s.available(k, view)] for s in self.stores]
        if not (missing[0] and missing[1]) or not self._parallel():
            return [self.maps(i, frame, keys, view, progress) for i in range(2)]
        a, b = self.stores
        with self.foreground(), self.lock:
            t0 = time.perf_counter()
            out = at_once(lambda: a.get(frame, keys, view, progress),  # progress from the page's thread only
                          lambda: b.get(frame, keys, view))
            if len(missing[0]) == 1 and missing[0] == missing[1]:  # per map and checkpoint, as eta() adds them
                self._seconds[missing[0][0].group] = (time.perf_counter() - t0) / 2
        return out

    def _parallel(self) -> bool:
        """Whether A and B may compute at once: two models, two caches, on the CPU, with two cores or more."""
        a, b = self.stores
        on_cpu = all(next(s.model.parameters()).device.type == "cpu" for s in self.stores)
        return a.model is not b.model and a.sha != b.sha and on_cpu and (os.cpu_count() or 1) >= 2

    def mask_panels(self, frame: int, obj: int, view: ViewSettings, progress: Progress | None = None) -> MaskPanels:
        """Each checkpoint's prediction of ``obj`` on ``frame``, filled, the annotation outlined, with warnings."""
        self._slot(obj)
        image, truth = self._image(frame), self._truth(frame, obj)
        preds, images, captions, warnings = [], [], [], []
        for i, label in enumerate(self.labels):
            if not self.stores[i].has_labels(view) and progress is not None \
                    and self.stores[i].segmented(view) <= frame:
                progress(f"segmenting {self.video.name} with {label} up to frame {self.video.frame_name(frame)}")
            pred = self.segmentation_until(i, view, frame)[frame] == obj
            preds.append(pred)
            images.append(frame_with_masks(image, truth, pred))
            captions.append(f"{SIDES[i]}: {label} - frame {self.video.frame_name(frame)}")
            if not self.stores[i].has_labels(view):
                continue  # the mask events need the whole video: they show once it is segmented
            for e in self.events(i, view, obj):
                if e.frame == frame:
                    warnings.append(f"{SIDES[i]} ({label}): the mask {_VERB[e.kind]} at this frame ({e.detail})")
        return MaskPanels(images, captions, preds, truth, self.truth_kind, warnings)

    def method_panels(self, frame: int, obj: int, key: MapKey, view: ViewSettings, display: Display = Display(),
                      progress: Progress | None = None) -> MethodPanels:
        """One map kind of ``frame`` for ``obj``: A, B and A - B, with their colour scales (computing what is missing)."""
        k = self._slot(obj)
        maps = [m[key][k].astype(np.float32) for m in self.maps_of_both(frame, [key], view, progress)]
        image, truth = self._image(frame), self._truth(frame, obj)
        note = self.unit_note(key)
        shared = display.shared and not note
        shown = display_values(maps, display.scale, shared, display.clip)
        tops = display_tops(maps, shared, display.clip)
        images = [map_panel(v, image, truth, alpha=display.opacity, colorbar=False) for v in shown]
        if note:  # different units: no A - B
            common = [np.zeros_like(maps[0])] * 2
        else:
            common = shown if shared else display_values(maps, display.scale, True, display.clip)
        images.append(difference_panel(common[0], common[1], truth, colorbar=False))  # A - B: on one scale
        limit = float(np.abs(common[0] - common[1]).max()) or 1.0
        scales = [heat_scale(t, key, display) for t in tops] + [difference_scale(limit, display)]
        captions = [f"{SIDES[i]}: {key.title}" for i in range(2)]
        captions.append(f"A - B: {key.title}" if not note else f"A - B: not drawn ({key.title} of different layers)")
        return MethodPanels(key, maps, images, captions, scales, note)

    def unit_note(self, key: MapKey) -> str:
        """Why A's and B's ``key`` maps are not in one unit, or ``""`` when they are.

        Every map but a layer method's (Grad-CAM) is a gradient or an attribution at the frame's pixels, one unit
        for any two memory networks; Grad-CAM is in the units of the layer it reads, which two families (or
        two architectures) do not share.
        """
        if key.group != "saliency" or key.method not in LAYER_METHODS:
            return ""
        layers = [f"{s.model.family} {s.model.attribution_layer(key.wrt)}" for s in self.stores]
        if layers[0] == layers[1]:
            return ""
        return (f"{key.title} reads a different layer in A ({layers[0]}) and in B ({layers[1]}): their values are "
                "not one unit, so each has its own colour scale and A - B is not drawn.")

    def frame_view(self, frame: int, obj: int, view: ViewSettings, wrt: str, display: Display = Display(),
                   progress: Progress | None = None) -> FrameView:
        """Every map kind of ``frame`` for ``obj`` (computing only the maps no store holds), for exports."""
        masks = self.mask_panels(frame, obj, view, progress)
        methods = [self.method_panels(frame, obj, key, view, display, progress) for key in self.keys(view, wrt)]
        return self.view_of(frame, obj, view, masks, methods, display)

    def view_of(self, frame: int, obj: int, view: ViewSettings, masks: MaskPanels, methods: list[MethodPanels],
                display: Display = Display()) -> FrameView:
        """The :class:`FrameView` of panels already made (what the page drew, for its exports)."""
        title = f"{self.video.name}, frame {self.video.frame_name(frame)}, object {obj}, target {view.target}"
        return FrameView(frame, self.video.frame_name(frame), self._image(frame), masks, methods,
                         self.labels, title, display)

    def compute_frames(self, frames: Iterable[int], view: ViewSettings, wrt: str | None = None,
                       progress: Callable[[int, int], None] | None = None) -> None:
        """Compute (or find) every map of ``frames`` for both checkpoints; ``progress(done, total)`` after each."""
        frames = list(frames)
        for i, t in enumerate(frames):
            self.maps_of_both(t, view.map_keys(wrt), view)
            if progress is not None:
                progress(i + 1, len(frames))

    def computed_frames(self, view: ViewSettings, key: MapKey = CYCLE) -> list[int]:
        """Frames whose ``key`` map (default: cycle-ERF) both checkpoints have."""
        return self.complete_frames(view, [key])

    def complete_frames(self, view: ViewSettings, keys: Iterable[MapKey]) -> list[int]:
        """Frames whose maps ``keys`` both checkpoints have (a view of them computes nothing)."""
        return sorted(set.intersection(*(s.available(k, view) for s in self.stores for k in keys)))

    def overview(self, frame: int, obj: int, view: ViewSettings, display: Display = Display()) -> list[np.ndarray]:
        """Thumbnails of frame ``frame`` and the two cycle-ERFs on it (shared scale)."""
        k = self._slot(obj)
        image = self.video.read_frame(frame)
        a, b = (m[CYCLE][k].astype(np.float32) for m in self.maps_of_both(frame, [CYCLE], view))
        va, vb = display_values([a, b], display.scale, True, display.clip)
        return [thumbnail(image), *(thumbnail(map_panel(v, image, alpha=display.opacity, colorbar=False))
                                    for v in (va, vb))]

    # ---------------------------------------------------------------- explorer
    def cell(self, view: ViewSettings, side: int = 0) -> float:
        """The side of one memory-read cell (stride 16 on the network's canvas) in the file's pixels."""
        h, w = self.video.size
        box = Letterbox.fit((h, w), parse_size(self.stores[side].size(view)))
        return 16 * h / box.inner[0]

    def memory_read(self, side: int, frame: int, obj: int, point: tuple[int, int] | None,
                    view: ViewSettings) -> TemporalAttribution:
        """What checkpoint ``side`` reads from its memory to segment ``obj`` on ``frame`` (at ``point``, a pixel
        ``(y, x)`` of the frame): each memory unit's share and effect, and the read's weights at the point.

        Raises:
            ConfigError: frame 0 (nothing in memory yet), a point outside the frame, an object the video lacks.
        """
        self._slot(obj)
        if frame == 0:
            raise ConfigError("frame 0 is given with its mask; its memory is empty: choose a later frame")
        key = (side, frame, obj, point, self.stores[side].size(view))
        if key not in self._reads:
            with self.lock:
                store = self.stores[side]
                self._reads[key] = temporal_attribution(store.model, self.video, frame, obj, size=store.size(view),
                                                        point=point)
            while len(self._reads) > READS:  # each holds [T, H, W] maps at the file's size
                self._reads.popitem(last=False)
        self._reads.move_to_end(key)
        return self._reads[key]

    def memory_panel(self, frame: int | None, weights: np.ndarray, top: float, display: Display = Display()) -> np.ndarray:
        """Memory frame ``frame`` under the read's ``[H, W]`` weights (linear, ``top`` = the colour bar's end);
        ``None`` (XMem's long-term prototypes, not pixels of one frame): the weights on grey."""
        values = np.clip(weights / top, 0, 1) if top > 0 else np.zeros_like(weights)
        image = np.full((*weights.shape, 3), 128, np.uint8) if frame is None else self._image(frame)
        return map_panel(values, image, alpha=display.opacity, colorbar=False)

    @staticmethod
    def memory_scale(top: float) -> ColourScale:
        """The colour bar of :meth:`memory_panel`: the read's weight per memory pixel."""
        return ColourScale(HEAT_CMAP, 0.0, top, "memory-read weight per pixel of the cell (each read sums to 1)")

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
        k = self._slot(obj)
        data = [self.maps(side, t, [key], view) for t in frames]
        images = map_panels([d[key][k].astype(np.float32) for d in data],
                            [self.video.read_frame(t) for t in frames], [d["pred"] == obj for d in data], scale)
        with tempfile.TemporaryDirectory() as tmp:
            path = write_animation(Path(tmp) / f"a.{fmt}", images, fps)
            return path.read_bytes()

    def masks_zip(self, side: int, view: ViewSettings) -> bytes:
        """Checkpoint ``side``'s segmentation of every frame as DAVIS-format PNGs (``<video>/<frame>.png``), zipped."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:  # PNGs are compressed already
            for t, labels in enumerate(self.segmentation(side, view)):
                z.writestr(f"{self.video.name}/{self.video.frame_name(t)}.png", mask_bytes(labels))
        return buf.getvalue()

    # ------------------------------------------------------------------ metrics
    def _metric_rows(self, view: ViewSettings) -> list[list[dict]]:
        """Each store's metric rows for ``view``, read again only when more frames are stored."""
        stamp = tuple(len(s.available(k, view)) for s in self.stores for k in view.map_keys())
        hit = self._metrics.get(view)
        if hit is None or hit[0] != stamp:
            hit = (stamp, [s.metrics(view) for s in self.stores])
            self._metrics[view] = hit
        return hit[1]

    def metrics(self, view: ViewSettings, obj: int, frame: int, summaries: list[VideoSummary]) -> MetricTables:
        """The metric rows of ``obj`` from what is stored: this frame, the video's means, curves over time.

        Columns carry readable names (:data:`~erfkit.dashboard.display.METRIC_NAMES`); a ``mask`` column says
        what each row's metrics were measured against; columns with no value are left out.
        """
        given = set(self.video.annotation_paths)
        rows = []
        for label, rows_of_store in zip(self.labels, self._metric_rows(view)):
            for r in rows_of_store:
                if r["object"] != obj:
                    continue
                t = self.video.frame_names.index(r["frame"]) if r["frame"] in self.video.frame_names else -1
                rows.append({"checkpoint": label, "map": MapKey.parse(r["method"]).title, "frame": r["frame"],
                             "mask": self.truth_kind if t in given else "prediction",
                             **{name: r.get(c) for c, name in METRIC_NAMES.items()}})
        df = pd.DataFrame(rows)
        j = pd.DataFrame({s.label: s.per_frame_j for s in summaries if s.per_frame_j}, index=self.video.frame_names)
        if df.empty:
            return MetricTables(df, df, pd.DataFrame(), j)
        df = df.dropna(axis=1, how="all")
        name = self.video.frame_name(frame)
        this = df[df["frame"] == name].drop(columns="frame")
        groups = df.groupby(["checkpoint", "map"])
        per_video = groups.mean(numeric_only=True).reset_index()
        per_video.insert(2, "frames", groups.size().values)
        energy = (df[df["map"] == CYCLE.title].pivot_table(index="frame", columns="checkpoint",
                                                          values=METRIC_NAMES["energy"])
                  if METRIC_NAMES["energy"] in df else pd.DataFrame())
        return MetricTables(this, per_video, energy, j)


_VERB = {"collapse": "collapses", "explosion": "explodes", "jump": "jumps"}
#: memory reads kept per comparison (the explorer's last clicks)
READS = 8
#: decoded frames kept per comparison (a view and its neighbours)
IMAGES = 4


def distinct(labels: list[str], hints: list[str] | None = None) -> list[str]:
    """``labels`` made distinct: a repeated one gets its hint (e.g. its folder), then ``#2``, ``#3`` ..."""
    out = list(labels)
    if hints is not None and len(set(out)) < len(out):
        out = [f"{l} ({h})" if labels.count(l) > 1 else l for l, h in zip(labels, hints)]
    seen: dict[str, int] = {}
    for i, l in enumerate(out):
        seen[l] = seen.get(l, 0) + 1
        if out.count(l) > 1 and seen[l] > 1:
            out[i] = f"{l} #{seen[l]}"
    return out
