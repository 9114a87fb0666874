"""XMem's inference on a stream of frames: :class:`XMemPredictor`, the :class:`~erfkit.inference.Propagator` of an XMem.

::

    model = erfkit.load_checkpoint("XMem.pth")              # or build_model("xmem-tiny")
    predictor = erfkit.VideoPredictor(model)                # an XMemPredictor: XMem's own memory policy
    for r in predictor.propagate(sequence):                 # a whole video, one result per frame
        r.probs, r.labels                                   # [K+1, H, W] at the file's size, [H, W] object ids

    predictor.reset()                                       # or frame by frame
    probs = predictor.step(frame, mask)                     # [K+1, H, W]
    predictor.memory_frames                                 # frames in working memory
    predictor.memory                                        # the XMemMemory (working, long-term, sensory)

One :meth:`XMemPredictor.step` is one step of XMem's evaluation (its
``InferenceCore.step`` as its ``eval.py`` drives it):

* the frame is normalised and zero-padded to a multiple of 16, centred
  (:meth:`erfkit.model.XMem.prepare_frame`); outputs are cropped back to the file's size;
* the key encoder runs, with the shrinkage only where the frame is memorised and
  the selection where it is read or long-term memory is on;
* after the first frame, the memory is read (:meth:`XMemMemory.match_memory`:
  top-k over long-term and working memory) and decoded with the sensory memory,
  which the decoder updates unless this frame's value encoding does (a deep update);
* a given mask replaces the prediction where it labels a pixel: its objects
  come from the mask, every other object keeps its predicted probability
  outside the labelled pixels, and the result is soft-aggregated as XMem does;
  new objects get a zero sensory memory;
* every ``mem_every`` frames, and at frames with a mask, the frame's values are
  encoded and memorised; working memory is consolidated into long-term memory
  when it holds ``max_mid_term_frames`` frames (:class:`XMemMemory`).

Gradient correction (``gc=GCConfig(iters=N, every=K)``, off by default, not part
of XMem): on every ``K``-th frame, the predicted mask is refined by ``N`` steps
of :func:`~erfkit.inference.gradient_correction` through the memory-model
interface (the frame memorised alone, as a first frame with its own sensory
memory, must rebuild each object's given mask on the frame it was given), and
the corrected mask is what the frame memorises and (``gc.save="corrected"``)
returns; the padding around the frame keeps XMem's own prediction.

Object ids: XMem's evaluation maps the ids of a video's masks to consecutive
labels ``1..K`` in the order they appear (its ``MaskMapper``); so does this
predictor: channel ``k+1`` of the output is ``object_ids[k]`` (:attr:`XMemPredictor.object_ids`),
and :meth:`XMemPredictor.labels` maps back to ids.  An object may appear on a
later frame with a mask that gives it (the other objects need not be in that
mask, as in DAVIS and YouTube-VOS).

Differences from XMem's evaluation (none changes its probabilities):

* frames are not resized: XMem's ``eval.py`` resizes the shorter side to 480
  (``--size``), which is the size of DAVIS's 480p frames; resize other videos
  before if a different size is wanted;
* the last frame is memorised unless ``step(..., end=True)`` says it is the last
  (``eval.py`` knows the video's length; its output does not depend on it);
* long-term usage is counted for every video (``eval.py`` counts it only for
  videos long enough to fill long-term memory; the counts only decide what a
  full long-term memory removes, see :meth:`XMemMemoryConfig.for_video`);
* a mask without any object (only 0 and 255) gives nothing (XMem would treat
  it as a mask), and 255 is void, not an object;
* it computes in the model's dtype (XMem's evaluation: float16 autocast on a GPU).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.letterbox import InputSize, format_size, parse_size
from ..device import resolve_device
from ..errors import ConfigError, DataError
from ..model.checkpoint import checkpoint_input_size
from ..model.stm import pad_to_multiple, soft_aggregate
from ..model.xmem import XMem, unpad
from ..tensors import frame_tensor, onehot
from .correction import GCConfig, Reference, gradient_correction
from .memory_read import MemoryRead, MemoryUnit, cell_shares, cells_to_pixels, query_pixels
from .predictor import Propagator, given_objects, object_labels
from .xmem_memory import FramePlan, MemoryWeights, XMemMemory, XMemMemoryConfig, XMemSchedule

__all__ = ["XMemPredictor", "STM_ONLY_OPTIONS"]

#: :class:`~erfkit.inference.VideoPredictor` options that have no meaning for XMem, refused with a ConfigError.
STM_ONLY_OPTIONS = ("memory", "max_memory_frames", "memory_masks")


@dataclass
class _State:
    memory: XMemMemory
    schedule: XMemSchedule
    t: int = 0
    ids: list[int] = field(default_factory=list)
    size: tuple[int, int] | None = None
    pad: tuple[int, int, int, int] | None = None
    plan: FramePlan | None = None
    weights: MemoryWeights | None = None
    references: list[Reference] = field(default_factory=list)  # gradient correction's given masks


class XMemPredictor(Propagator):
    """Segments one video frame by frame with XMem and XMem's memory policy.

    :class:`~erfkit.inference.VideoPredictor` given an XMem builds one of these
    (the model names its propagator), with the same keyword arguments.

    Args:
        model: an :class:`~erfkit.model.XMem` (e.g. from :func:`erfkit.load_checkpoint`).
        config: the memory settings (default: ``XMemMemoryConfig()``, XMem's ``eval.py``).
        max_objects: refuse masks with more objects than this (``None``: no limit).
        size: ``"native"`` or ``"checkpoint"`` (the default; the checkpoint's
            size must be native): XMem runs at the file's size, padded to a
            multiple of 16.  Letterboxing to another size is STM's.
        gc: gradient correction (:class:`~erfkit.inference.GCConfig`; default off), see the module notes.
        keep_weights: keep each read's :class:`~erfkit.inference.xmem_memory.MemoryWeights`
            in :attr:`last_weights` (``[K, N_mem, h*w]``, dense: at 480p with a
            full memory about 170 MB per object in float32).
        device: where to compute (default: the model's device).
        **settings: fields of :class:`XMemMemoryConfig` replacing those of
            ``config``: ``top_k``, ``mem_every``, ``deep_update_every``,
            ``enable_long_term``, ``enable_long_term_count_usage``,
            ``num_prototypes``, ``min_mid_term_frames``, ``max_mid_term_frames``,
            ``max_long_term_elements``.

    Raises:
        ConfigError: not an XMem, a setting out of range, an unknown setting,
            or an option of STM's predictor (``memory``, ``max_memory_frames``,
            ``memory_masks``).

    The predictor computes in the model's dtype: a float64 model gets float64
    frames and masks and returns float64 probabilities.
    """

    def __init__(self, model: XMem, config: XMemMemoryConfig | None = None, *, max_objects: int | None = None,
                 size: InputSize | str = "checkpoint", gc: GCConfig | None = None, keep_weights: bool = False,
                 device: str | torch.device | None = None, **settings):
        if not isinstance(model, XMem):
            raise ConfigError(f"XMemPredictor runs an XMem, not a {type(model).__name__}")
        if config is not None and not isinstance(config, XMemMemoryConfig):
            raise ConfigError(f"an XMem's memory settings are an XMemMemoryConfig, not {config!r} "
                              f"(STM's memory strategies do not apply to XMem)", option="memory")
        stm_only = [k for k in STM_ONLY_OPTIONS if settings.get(k) is not None]
        if stm_only:
            raise ConfigError(f"{', '.join(stm_only)}: STM's predictor options, not XMem's (XMem reads its memory "
                              f"as XMemMemoryConfig says: top_k, mem_every, the long-term memory settings)",
                              option=stm_only[0])
        for k in STM_ONLY_OPTIONS:
            settings.pop(k, None)
        fields = {f.name for f in dataclasses.fields(XMemMemoryConfig)}
        unknown = sorted(set(settings) - fields)
        if unknown:
            raise ConfigError(f"unknown XMem predictor settings {unknown}; the memory settings are {sorted(fields)}")
        self.config = dataclasses.replace(config or XMemMemoryConfig(), **settings)
        wanted = checkpoint_input_size(model) if size == "checkpoint" else parse_size(size)
        if wanted is not None:
            raise ConfigError(f"XMem runs at the file's size (padded to a multiple of 16), not {format_size(wanted)}: "
                              "resize the frames first, or use size 'native'", option="size")
        if max_objects is not None and max_objects < 1:
            raise ConfigError("max_objects must be >= 1", option="max_objects")
        self.device = resolve_device(device) if device is not None else model.device
        self.model = model.to(self.device).eval()
        self.dtype = next(model.parameters()).dtype
        self.max_objects = max_objects
        self.gc = gc or GCConfig()
        self.keep_weights = keep_weights
        #: with gradient correction: the last frame's probabilities before it (``[K+1, H, W]``)
        self.last_uncorrected: torch.Tensor | None = None
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the current video."""
        memory = XMemMemory(self.config, hidden_dim=self.model.config.hidden_dim)
        self._s = _State(memory, XMemSchedule(self.config))

    @property
    def memory(self) -> XMemMemory:
        """The current video's memory: working, long-term and sensory (:class:`XMemMemory`)."""
        return self._s.memory

    @property
    def object_ids(self) -> list[int]:
        """Ids of the tracked objects; channel ``k+1`` of the output (and label ``k+1`` in memory) is ``object_ids[k]``."""
        return list(self._s.ids)

    @property
    def frame_index(self) -> int:
        """Index of the next frame :meth:`step` expects."""
        return self._s.t

    @property
    def memory_frames(self) -> list[int]:
        """Indices of the frames in working memory, oldest first (long-term prototypes: ``memory.layout()``)."""
        return self._s.memory.working_frames

    @property
    def padding(self) -> tuple[int, int, int, int] | None:
        """``(left, right, top, bottom)`` zeros around the current video's frames (``None`` before the first)."""
        return self._s.pad

    @property
    def last_plan(self) -> FramePlan | None:
        """What the last :meth:`step` did: read, memorised, deep or normal hidden-state update."""
        return self._s.plan

    @property
    def last_weights(self) -> MemoryWeights | None:
        """With ``keep_weights``: the last frame's read weights over every memory cell (``None`` where nothing was read)."""
        return self._s.weights

    def settings(self) -> dict:
        """What decides this predictor's output: the checkpoint's hash, the architecture, XMem's memory settings."""
        info = self.model.checkpoint
        doc = {"checkpoint_sha256": info.sha256 if info is not None else None,
               "model": self.model.config.to_dict(), "predictor": "xmem", "size": "native",
               "xmem_memory": dataclasses.asdict(self.config), "gc": dataclasses.asdict(self.gc)}
        return json.loads(json.dumps(doc))  # as a results folder's manifest reads it back (tuples -> lists)

    # ------------------------------------------------------------------- step
    @torch.no_grad()
    def step(self, frame: np.ndarray | torch.Tensor, mask: np.ndarray | None = None, *,
             end: bool = False) -> torch.Tensor:
        """Segment the next frame.

        Args:
            frame: ``[H, W, 3]`` uint8 RGB (or ``[3, H, W]`` float in [0, 1]).
            mask: optional ``[H, W]`` index mask giving objects at this frame (the
                first frame must have one; later ones add objects that appear
                mid-video, or re-give tracked ones).  0 is background, 255 void.
            end: this is the video's last frame: it is not memorised (as XMem's
                evaluation does; the output is the same either way).

        Returns:
            probabilities ``[K+1, H, W]`` over ``[background, *object_ids]``, in the model's dtype.
        """
        s = self._s
        model = self.model
        x = frame_tensor(frame, self.device, self.dtype)
        size = tuple(x.shape[-2:])
        if s.size is None:
            s.size = size  # type: ignore[assignment]
        elif size != s.size:
            raise DataError(f"frame {s.t} is {size[1]}x{size[0]} but the video started at {s.size[1]}x{s.size[0]}")
        given = given_objects(mask, size, s.t, s.ids, self.max_objects)  # type: ignore[arg-type]
        if not s.ids and not given:
            raise DataError("the first frame needs a mask with at least one object")
        ids = s.ids + [o for o in given if o not in s.ids]
        plan = s.schedule.next(mask_given=bool(given), all_objects_given=len(given) == len(ids), end=end)
        image, pad = model.prepare_frame(x)
        key, shrinkage, selection, f16, f8, f4 = model.encode_key(image, need_sk=plan.need_shrinkage,
                                                                  need_ek=plan.need_selection)
        memory = s.memory
        s.weights = None
        probs = None
        if plan.segment:
            if self.keep_weights:
                readout, s.weights = memory.match_memory(key, selection, weights=True)
            else:
                readout = memory.match_memory(key, selection)
            hidden, _, probs = model.decode((f16, f8, f4), readout, memory.hidden, h_out=plan.normal_update,
                                             strip_bg=False)
            if plan.normal_update and hidden is not None:
                memory.hidden = hidden
        if given:
            probs = self._with_given(probs, mask, given, ids)  # type: ignore[arg-type]
            memory.create_hidden_state(len(ids), key)
            if self.gc.enabled:
                self._add_references(x, mask, given, ids, s.ids)  # type: ignore[arg-type]
        assert probs is not None
        s.ids = ids
        self.last_uncorrected = None
        if self.gc.applies_to(s.t) and not given and s.references:
            self.last_uncorrected = unpad(probs, pad)[0]
            probs = probs.clone()  # the padding keeps the prediction; unpad is a view of the frame inside it
            unpad(probs, pad).copy_(gradient_correction(model, x, self.last_uncorrected[None], s.references, self.gc))
        if plan.memorise:
            value, hidden = model.encode_value(image, f16, memory.hidden, probs[:, 1:],
                                               is_deep_update=plan.deep_update)
            memory.add_memory(key, shrinkage, value, list(range(1, len(ids) + 1)), selection, frame=s.t)
            if plan.deep_update and hidden is not None:
                memory.hidden = hidden
        s.pad, s.plan = pad, plan
        s.t += 1
        if self.last_uncorrected is not None and self.gc.save == "uncorrected":
            return self.last_uncorrected
        return unpad(probs, pad)[0]

    def labels(self, probs: torch.Tensor) -> np.ndarray:
        """``[K+1, H, W]`` probabilities -> ``[H, W]`` uint8 object ids."""
        return object_labels(probs, self._s.ids)

    @torch.no_grad()
    def memory_read(self, frame: np.ndarray | torch.Tensor) -> MemoryRead:
        """What ``frame`` reads, unit by unit: the long-term memory (one unit, when it holds prototypes), then
        each working-memory frame (see :class:`~erfkit.inference.memory_read.MemoryRead`).

        The read is :meth:`step`'s (top-k, long-term and working memory, usage not counted) and the decoder
        takes the sensory memory held now; leaving a unit out removes its cells before top-k and the softmax,
        and leaves the sensory memory as it is.

        Raises:
            DataError: nothing is memorised yet, or a frame of another size.
        """
        s, model, memory = self._s, self.model, self._s.memory
        if memory.working.key is None:
            raise DataError("nothing is memorised yet: segment a frame first")
        x = frame_tensor(frame, self.device, self.dtype)
        if tuple(x.shape[-2:]) != s.size:
            raise DataError(f"the frame is {x.shape[-1]}x{x.shape[-2]} but the video is {s.size[1]}x{s.size[0]}")
        image, pad = model.prepare_frame(x)
        key, _, selection, f16, f8, f4 = model.encode_key(image, need_sk=False, need_ek=True)
        layout = memory.layout()
        h, w = layout.hw
        n_lt = layout.num_long_term
        units = [MemoryUnit("frame", t, h * w) for t in layout.working_frames]
        cell_unit = torch.arange(len(units), device=key.device).repeat_interleave(h * w)
        if n_lt:
            origins = tuple(sorted(set(layout.cell_frame[:n_lt].tolist())))
            units.insert(0, MemoryUnit("long-term", None, n_lt, origins))
            cell_unit = torch.cat([cell_unit.new_zeros(n_lt), cell_unit + 1])
        ids = list(s.ids)
        slots = {label - 1: k for k, label in enumerate(layout.objects)}  # label k+1 is object slot k
        affinity = functools.cache(lambda: memory.memory_weights(key, selection).affinity)  # [K, N_mem, h*w]

        def read_weights(k: int) -> torch.Tensor:
            if k not in slots:
                raise ConfigError(f"object {ids[k]} is not memorised yet")
            return affinity()[slots[k]]

        def segment(without: int | None) -> np.ndarray:
            leave_out = None if without is None else cell_unit == without
            readout = memory.read(key, selection, leave_out=leave_out)
            _, _, probs = model.decode((f16, f8, f4), readout, memory.hidden, h_out=False, strip_bg=False)
            return object_labels(unpad(probs, pad)[0], ids)

        return MemoryRead(units, ids, (h, w), cell_unit, layout.cell_pixel.to(key.device), read_weights,
                          lambda where: cell_shares(query_pixels(where, s.size, key.device), pad),
                          lambda cells: cells_to_pixels(cells, pad), segment)

    # --------------------------------------------------------------- helpers
    def _add_references(self, x: torch.Tensor, mask: np.ndarray, given: list[int], ids: list[int],
                        tracked: list[int]) -> None:
        """Gradient correction's reference for the objects first given here: this frame (its query, encoded
        once) and their masks (an object given again keeps its first reference)."""
        new = [o for o in given if o not in tracked]
        if not new:
            return
        target = onehot(np.where(np.isin(mask, new), mask, 0), new, self.device, self.dtype)
        self._s.references.append(Reference(self.model.encode_query(x), target, [ids.index(o) for o in new]))

    def _with_given(self, probs: torch.Tensor | None, mask: np.ndarray, given: list[int],
                    ids: list[int]) -> torch.Tensor:
        """The frame's probabilities ``[1, K+1, H, W]`` (padded) once the given mask is laid over the prediction.

        Each object is one channel (``ids`` order, no background): the mask's
        one-hot for the objects it gives; for the others, their prediction
        (``probs``, ``None`` on the first frame) set to 0 where the mask
        labels a pixel.  Then XMem's soft aggregation.
        """
        labels = torch.as_tensor(np.asarray(mask), device=self.device).long()
        objects = torch.tensor(ids, device=self.device, dtype=torch.long).view(-1, 1, 1)
        hot, _ = pad_to_multiple((labels[None] == objects).to(self.dtype)[None], self.model.config.size_multiple)
        if probs is not None:
            predicted = probs[:, 1:].masked_fill(hot.sum(1, keepdim=True) > 0.5, 0)  # [1, K_before, H, W]
            kept = [k for k in range(predicted.shape[1]) if ids[k] not in given]
            hot[:, kept] = predicted[:, kept]
        return torch.softmax(soft_aggregate(hot), dim=1)
