"""A video predictor that streams frames: one object per video, one call per frame.

::

    predictor = VideoPredictor(model, memory="mem")
    for r in predictor.propagate(sequence):                 # a whole video, one result per frame
        r.index, r.probs, r.labels                          # [K+1, H, W], [H, W] object ids

    predictor.reset()                                       # or frame by frame, from any source:
    for t, frame in enumerate(frames):
        probs = predictor.step(frame, masks.get(t))         # [K+1, H, W]
        labels = predictor.labels(probs)                    # [H, W] object ids

Only the memory (keys and values at stride 16) and the reference frames' query
features are kept; frames are not.  No autograd graph is kept, except inside
gradient correction, which needs input gradients.

Reference sets (paper Table 4):

* ``first``: the frames where objects were given (frame 1 in DAVIS);
* ``previous``: frame ``t-1`` with its prediction;
* ``first+previous``: both;
* ``mem`` (STM's default): the given frames, every ``mem_every``-th frame with
  its prediction, and frame ``t-1`` added for frame ``t`` only.

``max_memory_frames`` caps the memory: the given frames are always kept and the
oldest other frames are dropped first.

Input size: the network runs on a canvas of the checkpoint's training size
(240x427 for the paper's models), onto which each frame is letterboxed as the
authors' code does (:mod:`erfkit.data.letterbox`); outputs are always at the
file's size.  ``size="native"`` runs at the file's own size.  The memory, gradient
correction and :attr:`VideoPredictor.memory_masks` all live on the canvas.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import asdict, dataclass, field
from typing import Iterator

import numpy as np
import torch

from ..data.letterbox import InputSize, Letterbox, format_size, parse_size
from ..data.video import VideoSequence
from ..device import resolve_device
from ..errors import ConfigError, DataError
from ..model.checkpoint import checkpoint_input_size
from ..model.stm import STM, Memory
from ..tensors import class_index, frame_tensor, onehot
from .correction import GCConfig, Reference, gradient_correction
from .memory_read import MemoryRead, MemoryUnit, cell_shares, cells_to_pixels, is_region, query_pixels

__all__ = ["VideoPredictor", "Propagator", "FrameResult", "MEMORY_STRATEGIES", "MAX_OBJECT_ID", "model_propagator",
           "given_objects", "object_labels"]

MEMORY_STRATEGIES = ("first", "previous", "first+previous", "mem")
#: object ids must lie in 1..254 (0 is the background, 255 "void").
MAX_OBJECT_ID = 254


@dataclass
class FrameResult:
    """One frame of :meth:`VideoPredictor.propagate`.

    Attributes:
        index: the frame's index in the video.
        name: the frame's name (its file stem).
        probs: ``[K+1, H, W]`` probabilities over ``[background, *object_ids]`` at the file's size.
        labels: ``[H, W]`` uint8 object ids (the argmax of ``probs``).
        seconds: time the model took for this frame (reading the frame excluded).
    """

    index: int
    name: str
    probs: torch.Tensor
    labels: np.ndarray
    seconds: float


@dataclass
class _Entry:
    index: int
    ids: list[int]
    memory: Memory  # keys [1, len(ids), Ck, 1, h, w]
    anchor: bool  # a frame where objects were given: never dropped


@dataclass
class _State:
    t: int = 0
    ids: list[int] = field(default_factory=list)
    entries: list[_Entry] = field(default_factory=list)
    temporary: _Entry | None = None
    references: list[tuple[list[int], Reference]] = field(default_factory=list)
    box: Letterbox | None = None  # the file's size and where it lies on the network's canvas
    cache: Memory | None = None


def given_objects(mask: np.ndarray | None, size: tuple[int, int], frame: int, tracked: list[int],
                  max_objects: int | None) -> list[int]:
    """The object ids a frame's mask gives, ascending (``[]`` without a mask or objects), checked.

    Args:
        mask: ``[H, W]`` object ids (0 background, 255 void), or ``None``.
        size: the frame's ``(H, W)``.
        frame: the frame's index (for the error).
        tracked: the ids already tracked (they count towards ``max_objects``).
        max_objects: the most objects allowed (``None``: no bound).

    Raises:
        DataError: a mask of another shape or size, an id outside 1..254, too many objects.
    """
    if mask is None:
        return []
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise DataError(f"a mask is [H, W], got shape {mask.shape}")
    if mask.shape != size:
        raise DataError(f"mask is {mask.shape[1]}x{mask.shape[0]} but frame {frame} is {size[1]}x{size[0]}")
    ids = [int(v) for v in np.unique(mask) if v not in (0, 255)]
    if not ids:
        return []
    if min(ids) < 0 or max(ids) > MAX_OBJECT_ID:
        bad = min(ids) if min(ids) < 0 else max(ids)
        raise DataError(f"object id {bad} outside 1..{MAX_OBJECT_ID} (255 is void)")
    total = len(set(tracked) | set(ids))
    if max_objects is not None and total > max_objects:
        raise DataError(f"{total} objects, more than the {max_objects} allowed", option="max_objects")
    return ids


def object_labels(probs: torch.Tensor, ids: list[int]) -> np.ndarray:
    """``[K+1, H, W]`` probabilities over ``[background, *ids]`` -> ``[H, W]`` uint8 object ids."""
    table = torch.tensor([0, *ids], dtype=torch.uint8, device=probs.device)
    return table[class_index(probs, 0)].cpu().numpy()


class Propagator:
    """What segments a whole video: :meth:`propagate` over :meth:`reset`, :meth:`step` and :meth:`labels`.

    Subclasses (:class:`VideoPredictor`, :class:`~erfkit.inference.CopyFirst`)
    define ``reset()``, ``step(frame, mask) -> [K+1, H, W]`` probabilities,
    ``labels(probs) -> [H, W]`` ids, ``settings() -> dict`` and ``max_objects``.  A memory network's
    predictor also shows what its next frame reads (:meth:`memory_read`).
    """

    max_objects: int | None = None

    def memory_read(self, frame: np.ndarray | torch.Tensor) -> MemoryRead:
        """What ``frame``, the next frame, reads from the memory held now, unit by unit (nothing changes).

        Args:
            frame: ``[H, W, 3]`` uint8 RGB (or ``[3, H, W]`` float in [0, 1]) at the video's size.

        Raises:
            ConfigError: this propagator holds no memory network.
            DataError: nothing is memorised yet.
        """
        raise ConfigError(f"{type(self).__name__} reads no memory")

    def propagate(self, video: VideoSequence, *, frames: int | None = None, progress: bool = False,
                  check: bool = True) -> Iterator[FrameResult]:
        """Segment a whole video from its first frame, one :class:`FrameResult` per frame, as they are computed.

        The predictor is reset first; the video's prompts (its given masks)
        give the objects.  Frames are read one at a time and not kept.

        Args:
            video: the video (e.g. ``DavisDataset(...)[name]`` or :func:`erfkit.folder_sequence`).
            frames: stop after this many frames (default: all).
            progress: show a per-frame progress bar.
            check: refuse a video with fewer than 2 frames or more objects than ``max_objects`` first.

        Raises:
            DataError: a frame or mask that cannot be used, naming its file.
        """
        from tqdm.auto import tqdm

        if check:
            video.check_prompts(self.max_objects)
            if len(video) < 2:
                raise DataError(f"sequence has {len(video)} frame; at least 2 are needed", video.name)
        self.reset()
        n = len(video) if frames is None else min(frames, len(video))
        for t in tqdm(range(n), desc=video.name, unit="frame", disable=not progress, leave=False):
            frame = video.read_frame(t)
            if frame.shape[:2] != video.size:
                raise DataError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the video's first frame "
                                f"{video.size[1]}x{video.size[0]}", video.frame_paths[t])
            prompt = video.prompt(t)
            t0 = time.perf_counter()
            probs = self.step(frame, prompt)
            labels = self.labels(probs)
            yield FrameResult(t, video.frame_name(t), probs, labels, time.perf_counter() - t0)



def model_propagator(model) -> type[Propagator] | None:
    """The propagator ``model``'s class names (attribute ``propagator``, ``"module:Class"``), or ``None``.

    A network below the inference layer cannot import its predictor; it names it.
    """
    name = getattr(type(model), "propagator", None)
    if name is None:
        return None
    module, _, attr = str(name).partition(":")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"{type(model).__name__} names the propagator {name!r}, which does not exist ({e})") from e
    if not (isinstance(found, type) and issubclass(found, Propagator)):
        raise ConfigError(f"{type(model).__name__} names {name!r} as its propagator, which is not a Propagator")
    return found


class VideoPredictor(Propagator):
    """Segments one video frame by frame.

    A model class may name its own propagator (class attribute ``propagator``,
    ``"module:Class"``, e.g. :class:`~erfkit.model.XMem`'s
    :class:`~erfkit.inference.XMemPredictor`): ``VideoPredictor(model, ...)``
    then returns that class built with the same arguments, which refuses the
    options below that do not apply to it.

    Args:
        model: an :class:`~erfkit.model.STM` (e.g. from :func:`erfkit.load_checkpoint`).
        memory: reference-set strategy: ``first``, ``previous``, ``first+previous`` or ``mem``.
        mem_every: with ``mem``, every how many frames a prediction is memorised (5).
        max_memory_frames: cap on memorised frames (given frames always kept); ``None``: no cap.
        gc: gradient-correction settings (default: off).
        max_objects: refuse masks with more objects than this.
        memory_masks: optional ``f(t, frame [1, 3, H, W], probs [1, K+1, H, W]) -> probs``
            replacing what is put into memory for frame ``t`` (not for frames with
            given masks); gradient correction then corrects the replacement.  The
            output is still the model's own prediction.  Used to study
            low-quality memory masks (paper Table 5).  ``H, W`` is the canvas
            (see :meth:`canvas_onehot`).
        size: the network's input size: ``(H, W)`` or ``"HxW"`` (frames are
            letterboxed onto that canvas), ``"native"`` (the file's size), or
            ``"checkpoint"`` (default: the size the checkpoint was trained at,
            see :attr:`erfkit.model.checkpoint.CheckpointInfo.input_size`).
        device: where to compute (default: the model's device).

    The predictor computes in the model's dtype: a float64 model gets float64
    frames and masks.
    """

    def __new__(cls, model=None, *args, **kwargs):
        own = model_propagator(model)
        if own is None or issubclass(cls, own):
            return super().__new__(cls)
        if issubclass(own, cls):
            return super().__new__(own)  # Python then runs own.__init__
        if cls is not VideoPredictor:
            raise ConfigError(f"{cls.__name__} cannot run a {type(model).__name__}; it runs with {own.__name__}")
        return own(model, *args, **kwargs)  # not a VideoPredictor: Python calls no __init__ on it

    def __init__(self, model: STM, *, memory: str = "mem", mem_every: int = 5,
                 max_memory_frames: int | None = None, gc: GCConfig | None = None,
                 max_objects: int | None = None, memory_masks=None,
                 size: InputSize | str = "checkpoint", device: str | torch.device | None = None):
        if memory not in MEMORY_STRATEGIES:
            raise ConfigError(f"unknown memory strategy {memory!r}; choose from {', '.join(MEMORY_STRATEGIES)}")
        if mem_every < 1:
            raise ConfigError("mem_every must be >= 1")
        if max_memory_frames is not None and max_memory_frames < 1:
            raise ConfigError("max_memory_frames must be >= 1")
        self.device = resolve_device(device) if device is not None else model.device
        self.model = model.to(self.device).eval()
        self.dtype = next(model.parameters()).dtype
        self.size: InputSize = checkpoint_input_size(model) if size == "checkpoint" else parse_size(size)
        self.strategy = memory
        self.mem_every = mem_every
        self.max_memory_frames = max_memory_frames
        self.gc = gc or GCConfig()
        self.max_objects = max_objects
        self.memory_masks = memory_masks
        self.last_uncorrected: torch.Tensor | None = None
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the current video."""
        self._s = _State()

    @property
    def object_ids(self) -> list[int]:
        """Ids of the tracked objects; channel ``k+1`` of the output is ``object_ids[k]``."""
        return list(self._s.ids)

    @property
    def frame_index(self) -> int:
        """Index of the next frame :meth:`step` expects."""
        return self._s.t

    @property
    def letterbox(self) -> Letterbox | None:
        """Where the current video's frames lie on the network's canvas (``None`` before the first frame)."""
        return self._s.box

    def canvas_onehot(self, mask: np.ndarray) -> torch.Tensor:
        """An index mask ``[h, w]`` of the current video -> ``[1, K+1, H, W]`` as the network sees it.

        One-hot over ``[background, *object_ids]``, letterboxed onto the canvas
        like a given mask (:meth:`erfkit.data.letterbox.Letterbox.mask`).
        """
        box = self._s.box
        if box is None:
            raise DataError("no frame seen yet: the canvas is not known")
        return box.mask(onehot(mask, self._s.ids, self.device, self.dtype))

    @property
    def memory_frames(self) -> list[int]:
        """Indices of the frames held in memory (the temporary previous frame excluded)."""
        return [e.index for e in self._s.entries]

    def current_memory(self) -> tuple[Memory, list[int]]:
        """What the next frame reads: the memory (keys ``[1, K, Ck, T, h, w]``) and the index of each of its ``T`` frames.

        Raises:
            DataError: nothing is memorised yet.
        """
        s = self._s
        if not s.entries and s.temporary is None:
            raise DataError("nothing is memorised yet: segment a frame first")
        frames = [e.index for e in s.entries] + ([s.temporary.index] if s.temporary is not None else [])
        return self._read_memory(), frames

    @torch.no_grad()
    def memory_read(self, frame: np.ndarray | torch.Tensor) -> MemoryRead:
        """What ``frame`` reads from :meth:`current_memory`: one unit per memory frame (see :class:`MemoryRead`).

        The read and the masks are STM's on the canvas; points, regions and maps are at the file's size.
        """
        mem, frames = self.current_memory()
        box, model = self.letterbox, self.model
        assert box is not None
        q = model.encode_query(box.image(frame_tensor(frame, self.device, self.dtype)))
        h, w = q.grid
        T, device = len(frames), q.key.device
        ids = list(self._s.ids)

        def query_cells(where) -> torch.Tensor:
            pixels = query_pixels(where, box.frame, device)  # checks the point or region
            if is_region(where):
                return cell_shares(box.labels(pixels.long()).double(), q.pad)
            return cell_shares(query_pixels(box.point(*where), box.canvas, device), q.pad)

        def segment(without: int | None) -> np.ndarray:
            m = mem if without is None else mem.without(without)
            return object_labels(box.probs_to_frame(model.segment(q, m).softmax(1))[0], ids)

        return MemoryRead([MemoryUnit("frame", t, h * w) for t in frames], ids, (h, w),
                          torch.arange(T, device=device).repeat_interleave(h * w),
                          torch.arange(h * w, device=device).repeat(T),
                          lambda k: model.memory_weights(mem.select([k]), q)[0, 0], query_cells,
                          lambda cells: box.map_to_frame(cells_to_pixels(cells, q.pad)), segment)

    def settings(self) -> dict:
        """What decides this predictor's output: the checkpoint's hash, the architecture, the inference settings."""
        info = self.model.checkpoint
        return {"checkpoint_sha256": info.sha256 if info is not None else None,
                "model": self.model.config.to_dict(), "size": format_size(self.size),
                "memory": self.strategy, "mem_every": self.mem_every,
                "max_memory_frames": self.max_memory_frames, "gc": asdict(self.gc)}

    # ------------------------------------------------------------------- step
    @torch.no_grad()
    def step(self, frame: np.ndarray | torch.Tensor, mask: np.ndarray | None = None) -> torch.Tensor:
        """Segment the next frame.

        Args:
            frame: ``[H, W, 3]`` uint8 RGB (or ``[3, H, W]`` float in [0, 1]).
            mask: optional ``[H, W]`` index mask giving objects at this frame
                (the first frame must have one; later ones add objects that
                appear mid-video, or re-give tracked ones).  255 is ignored.

        Returns:
            probabilities ``[K+1, H, W]`` over ``[background, *object_ids]``
            (after gradient correction when it applies and ``gc.save`` is
            ``"corrected"``; :attr:`last_uncorrected` holds the other one).
        """
        s = self._s
        x = frame_tensor(frame, self.device, self.dtype)
        size = tuple(x.shape[-2:])
        if s.box is None:
            s.box = Letterbox.fit(size, self.size)  # type: ignore[arg-type]
        elif size != s.box.frame:
            fh, fw = s.box.frame
            raise DataError(f"frame {s.t} is {size[1]}x{size[0]} but the video started at {fw}x{fh}")
        box = s.box
        x = box.image(x)
        given = given_objects(mask, size, s.t, s.ids, self.max_objects)
        if not s.ids and not given:
            raise DataError("the first frame needs a mask with at least one object")
        if s.ids and (s.entries or s.temporary is not None):
            probs = self.model.segment(x, self._read_memory()).softmax(1)
        else:
            probs = x.new_zeros((1, 1, *box.canvas))
            probs[:, 0] = 1
        if given:
            probs = self._apply_given(x, probs, mask, given)
        uncorrected = probs
        remembered = probs
        if self.memory_masks is not None and not given:
            remembered = self.memory_masks(s.t, x, probs)
        if self.gc.applies_to(s.t) and not given and s.references:
            remembered = gradient_correction(self.model, x, remembered, [r for _, r in s.references], self.gc)
            if self.memory_masks is None:
                probs = remembered
        self._memorise(x, remembered, anchor=bool(given))
        s.t += 1
        self.last_uncorrected = self._to_frame(uncorrected, mask, given)
        if self.gc.save == "uncorrected":
            return self.last_uncorrected
        return self.last_uncorrected if probs is uncorrected else self._to_frame(probs, mask, given)

    def _to_frame(self, probs: torch.Tensor, mask: np.ndarray | None, given: list[int]) -> torch.Tensor:
        """Canvas ``[1, K+1, H, W]`` -> the file's ``[K+1, h, w]``; a given mask is returned as given."""
        box = self._s.box
        assert box is not None
        out = box.probs_to_frame(probs)[0]
        if given and not box.identity:
            hot = onehot(mask, self._s.ids, self.device, self.dtype)[0]  # type: ignore[arg-type]
            where = torch.as_tensor(np.isin(mask, given), device=self.device)  # type: ignore[arg-type]
            out = torch.where(where, hot, out)
        return out

    def labels(self, probs: torch.Tensor) -> np.ndarray:
        """``[K+1, H, W]`` probabilities -> ``[H, W]`` uint8 object ids."""
        return object_labels(probs, self._s.ids)

    # --------------------------------------------------------------- helpers
    def _apply_given(self, x: torch.Tensor, probs: torch.Tensor, mask: np.ndarray, given: list[int]) -> torch.Tensor:
        """Add new objects; where the mask labels an object, the output is that object."""
        s = self._s
        new = [o for o in given if o not in s.ids]
        if new:
            probs = torch.cat([probs, probs.new_zeros((1, len(new), *probs.shape[-2:]))], 1)
            s.ids = s.ids + new
            s.cache = None  # the stacked memory has one slot per object
        box = s.box
        assert box is not None
        hot = box.mask(onehot(mask, s.ids, self.device, self.dtype))
        if len(new) == len(s.ids):
            # Every object is new here (the first frame): the network gets the given
            # mask as it is, with the unlabelled boundary pixels of the letterbox.
            probs = hot
        else:
            inside = torch.as_tensor(np.isin(mask, given), device=self.device, dtype=self.dtype)
            where = box.mask(inside[None, None]) > 0
            probs = torch.where(where, hot, probs)
        if self.gc.enabled and new:
            # The reference of gradient correction for the new objects: this frame and
            # their given masks (an object given again keeps its first reference).
            # The frame's query features are computed once, here.
            slots = [s.ids.index(o) for o in new]
            target = box.mask(onehot(np.where(np.isin(mask, new), mask, 0), new, self.device, self.dtype))
            s.references.append((new, Reference(self.model.encode_query(x), target, slots)))
        return probs

    def _memorise(self, x: torch.Tensor, probs: torch.Tensor, anchor: bool) -> None:
        s = self._s
        entry = _Entry(s.t, list(s.ids), self.model.memorize(x, probs), anchor)
        strategy = self.strategy
        keep = anchor or (strategy == "mem" and s.t % self.mem_every == 0)
        if strategy == "previous":
            s.entries = [entry]
            s.temporary = None
            s.cache = None
            return
        if keep:
            s.entries.append(entry)
            s.temporary = None
            self._enforce_cap()
            s.cache = None
        elif strategy in ("first+previous", "mem"):
            s.temporary = entry
        # "first": only given frames are kept

    def _enforce_cap(self) -> None:
        s = self._s
        cap = self.max_memory_frames
        if cap is None:
            return
        while len(s.entries) > cap:
            victim = next((i for i, e in enumerate(s.entries) if not e.anchor), None)
            if victim is None:
                break  # only given frames: they are always kept
            del s.entries[victim]

    def _stack(self, entries: list[_Entry]) -> Memory:
        """Entries -> one :class:`Memory` over the current objects (masking frames before an object appeared)."""
        ids = self._s.ids
        K = len(ids)
        if all(e.ids == ids for e in entries):
            return Memory.cat([e.memory for e in entries])
        first = entries[0].memory
        _, _, Ck, _, h, w = first.keys.shape
        Cv = first.values.shape[2]
        T = len(entries)
        keys = first.keys.new_zeros((1, K, Ck, T, h, w))
        values = first.values.new_zeros((1, K, Cv, T, h, w))
        mask = torch.zeros((1, K, T), dtype=torch.bool, device=first.keys.device)
        for t, e in enumerate(entries):
            slots = [ids.index(o) for o in e.ids]
            keys[0, slots, :, t] = e.memory.keys[0, :, :, 0]
            values[0, slots, :, t] = e.memory.values[0, :, :, 0]
            mask[0, slots, t] = True
        return Memory(keys, values, mask)

    def _read_memory(self) -> Memory:
        s = self._s
        if s.cache is None and s.entries:
            s.cache = self._stack(s.entries)
        parts = [] if s.cache is None else [s.cache]
        if s.temporary is not None:
            parts.append(self._stack([s.temporary]))
        return Memory.cat(parts)
