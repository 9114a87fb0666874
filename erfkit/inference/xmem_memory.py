"""XMem's three memories at inference: working, long-term and sensory (Cheng & Schwing, ECCV 2022).

::

    memory = XMemMemory(XMemMemoryConfig(), hidden_dim=64)
    memory.create_hidden_state(2, key)                             # sensory memory [1, 2, Ch, h, w]
    memory.add_memory(key, shrinkage, value, [1, 2], selection)    # frame 0 with its mask
    readout = memory.match_memory(query_key, query_selection)      # [1, K, Cv, h, w]
    weights = memory.memory_weights(query_key, query_selection)    # which cell each query pixel reads

Tensors only: the network (key/value encoders, decoder, hidden-state update)
lives elsewhere; this module stores what the network gives and reads it back.
XMem's memory manager takes a batch of one, and so does this module.

**Working memory** holds every memorised frame's key ``[Ck, h*w]``, shrinkage
``[1, h*w]``, selection ``[Ck, h*w]`` and per-object values ``[Cv, h*w]``.
When it reaches ``max_mid_term_frames`` frames, the frames after the first and
before the last ``min_mid_term_frames - 1`` are *consolidated*: the
``num_prototypes`` of their cells that the reads used most (usage = summed
affinity / number of reads since the cell was added) become prototypes whose
keys are kept and whose values and shrinkage are *potentiated* (a softmax-
weighted readout of all candidates with the prototype as the query).  The
prototypes join **long-term memory**; the consolidated frames leave working
memory.  Before a consolidation would push long-term memory above
``max_long_term_elements``, its least used elements (same usage measure) are
removed.  **Sensory memory** is the decoder's hidden state ``[1, K, Ch, h, w]``,
zeros for a new object.

A read (:meth:`XMemMemory.match_memory`) scores every memory cell against
every query pixel with XMem's anisotropic L2 similarity
``-s_i * sum_c e_cj (k_ci - q_cj)^2 / sqrt(Ck)`` (shrinkage ``s`` of the memory
cell, selection ``e`` of the query pixel), keeps the ``top_k`` best cells per
query pixel, normalises them with a softmax and reads the values.  Long-term
prototypes come first, then working memory, in one softmax.  The formulas are
those of :mod:`erfkit.model.xmem_memory_ops` (:func:`~erfkit.model.xmem_memory_ops.similarity`,
:func:`~erfkit.model.xmem_memory_ops.topk_softmax`), shared with the network's
training read.

**Object groups.**  Objects given on the same frame form a group that shares
its memory cells.  An object given later starts a new group whose values
cover only the last cells (the frames memorised since); its reads use those
cells only.  It joins long-term memory at the first consolidation where it
holds more than ``min_mid_term_frames + 1`` working frames, with values for
the prototypes (chosen by usage among all candidates) that fall among its own
cells.  XMem pairs a group's ``n`` values with the *last* ``n`` keys, and this
module does the same, including two consequences of that convention: after a
consolidation a later group's first-frame value is read through the key of
the video's first frame (the consolidation keeps each group's own first
frame), and a later group's long-term values sit on the last long-term keys
whatever prototypes they were potentiated for.  :class:`MemoryLayout` records
both the frame each key and each group's values came from, so an explainer
can see it.

Differences from XMem's code (none changes a result XMem produces):

* where XMem's code raises, this module goes on: a long-term removal with
  several object groups (each group keeps the values of its surviving cells,
  still on the last keys); ``min_mid_term_frames = 1`` (XMem slices the
  candidates' values to nothing); fewer cells than ``top_k`` or
  ``num_prototypes`` (capped at the number of cells); a removal of zero
  elements (nothing is removed);
* the top-k softmax subtracts the maximum first (XMem exponentiates the raw
  similarities, which can underflow to ``0/0``);
* the hidden state takes the key's dtype (XMem: always float32).

Usage counts are float32 as in XMem whatever the key's dtype, so prototype
selection and removal order cells exactly as XMem does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import torch

from ..errors import ConfigError
from ..model import xmem_memory_ops as ops

__all__ = ["XMemMemoryConfig", "XMemSchedule", "FramePlan", "XMemMemory", "KeyValueStore", "MemoryLayout",
           "MemoryWeights"]


# ---------------------------------------------------------------- settings
@dataclass(frozen=True)
class XMemMemoryConfig:
    """XMem's memory settings; the defaults are those of XMem's evaluation script ``eval.py``.

    Attributes:
        top_k: memory cells each query pixel reads (``--top_k``, 30).
        mem_every: every how many frames a prediction is memorised, ``r`` in
            the paper (``--mem_every``, 5); frames with a given mask always are.
        deep_update_every: every how many frames the hidden state gets a deep
            update (``--deep_update_every``, -1: at every memorised frame).
        enable_long_term: consolidate into long-term memory (``eval.py``: on
            unless ``--disable_long_term``).
        enable_long_term_count_usage: count long-term usage, which removal
            needs.  ``eval.py`` has no flag: it sets this per video, on when
            the video is long enough for removal to happen
            (:meth:`for_video`); the interactive demo sets it on.  Default on.
        num_prototypes: ``P``, prototypes per consolidation (``--num_prototypes``, 128).
        min_mid_term_frames: ``T_min``, working-memory frames kept after a
            consolidation (``--min_mid_term_frames``, 5).
        max_mid_term_frames: ``T_max``, working-memory frames that trigger a
            consolidation (``--max_mid_term_frames``, 10).
        max_long_term_elements: ``LT_max``, the most long-term elements
            (``--max_long_term_elements``, 10000).
    """

    top_k: int = 30
    mem_every: int = 5
    deep_update_every: int = -1
    enable_long_term: bool = True
    enable_long_term_count_usage: bool = True
    num_prototypes: int = 128
    min_mid_term_frames: int = 5
    max_mid_term_frames: int = 10
    max_long_term_elements: int = 10000

    def __post_init__(self) -> None:
        def check(ok: bool, name: str, message: str) -> None:
            if not ok:
                raise ConfigError(f"XMemMemoryConfig.{name} {message}", option=name)

        check(self.top_k >= 1, "top_k", "must be >= 1")
        check(self.mem_every >= 1, "mem_every", "must be >= 1")
        check(self.deep_update_every == -1 or self.deep_update_every >= 1, "deep_update_every",
              "must be >= 1, or -1 for a deep update at every memorised frame")
        check(self.num_prototypes >= 1, "num_prototypes", "must be >= 1")
        check(self.min_mid_term_frames >= 1, "min_mid_term_frames", "must be >= 1 (the first frame stays)")
        check(self.max_mid_term_frames > self.min_mid_term_frames, "max_mid_term_frames",
              f"must be > min_mid_term_frames ({self.min_mid_term_frames}): "
              "a consolidation needs frames to consolidate")
        check(self.max_long_term_elements >= self.num_prototypes, "max_long_term_elements",
              f"must be >= num_prototypes ({self.num_prototypes})")

    @property
    def deep_update_sync(self) -> bool:
        """Whether deep updates happen at memorised frames (``deep_update_every == -1``)."""
        return self.deep_update_every < 0

    def for_video(self, num_frames: int) -> "XMemMemoryConfig":
        """This config for a video of ``num_frames`` frames, usage counting set as ``eval.py`` sets it.

        Long-term usage is counted when ``num_frames / (T_max - T_min) * P >= LT_max``
        (and long-term memory is on): shorter videos never need a removal.
        """
        enough = num_frames / (self.max_mid_term_frames - self.min_mid_term_frames) * self.num_prototypes \
            >= self.max_long_term_elements
        return replace(self, enable_long_term_count_usage=self.enable_long_term and enough)


@dataclass(frozen=True)
class FramePlan:
    """What XMem's inference does at one frame (:meth:`XMemSchedule.next`).

    Attributes:
        index: the frame's index (0 for the first frame with a mask).
        segment: read memory and decode (not on the first frame, nor where every object is given).
        memorise: add the frame to memory (every ``mem_every`` frames, and where a mask is given).
        deep_update: the value encoder updates the hidden state as it memorises this frame.
        normal_update: the decoder updates the hidden state.
        need_selection: the key encoder must give the selection term.
        need_shrinkage: the key encoder must give the shrinkage term.
    """

    index: int
    segment: bool
    memorise: bool
    deep_update: bool
    normal_update: bool
    need_selection: bool
    need_shrinkage: bool


class XMemSchedule:
    """Per-video bookkeeping of XMem's ``InferenceCore.step``: which frames are memorised and deep-updated.

    Frame 0 is the first frame with a mask (XMem's ``eval.py`` skips the frames
    before it).  One :meth:`next` per frame.

    Args:
        config: the memory settings (``mem_every``, ``deep_update_every``, ``enable_long_term``).
    """

    def __init__(self, config: XMemMemoryConfig):
        self.config = config
        self.index = -1
        self.last_memorised = 0
        self.last_deep_update = -config.deep_update_every

    def next(self, *, mask_given: bool, all_objects_given: bool = False, end: bool = False) -> FramePlan:
        """Advance to the next frame and say what to do there.

        Args:
            mask_given: the frame comes with a mask (of some objects).
            all_objects_given: that mask gives every object tracked so far (then nothing is segmented).
            end: the video's last frame (nothing is memorised, no hidden-state update).
        """
        c = self.config
        self.index += 1
        t = self.index
        memorise = (t - self.last_memorised >= c.mem_every or mask_given) and not end
        segment = t > 0 and not all_objects_given
        if c.deep_update_sync:
            deep = memorise
        else:
            deep = t - self.last_deep_update >= c.deep_update_every and not end
        normal = (not c.deep_update_sync or not deep) and not end
        if memorise:
            self.last_memorised = t
            if deep:
                self.last_deep_update = t
        return FramePlan(t, segment, memorise, deep and memorise, normal, c.enable_long_term or segment, memorise)


# ------------------------------------------------------------------- store
class KeyValueStore:
    """Keys shared by every object, values per object group: XMem's working or long-term memory.

    Cells are stored flat along the last dimension.  Group ``g``'s values cover
    the *last* ``group_size(g)`` keys (a group that appeared later has fewer).

    Attributes:
        key: ``[1, Ck, N]`` (``None`` while empty).
        shrinkage: ``[1, 1, N]``.
        selection: ``[1, Ck, N]`` or ``None`` (long-term memory keeps none).
        values: per group ``[n_g, Cv, N_g]``.
        groups: per group, its objects' labels (1-based, ascending across groups).
        cell_frame: ``[N]`` int64, the frame each key came from.
        cell_pixel: ``[N]`` int64, the key's flat position ``y * w + x`` in that frame.
        value_frames: per group ``[N_g]`` int64, the frame each value column was computed for.
        use_count, life_count: ``[1, 1, N]`` float32 (``None`` unless ``count_usage``).
    """

    def __init__(self, count_usage: bool):
        self.count_usage = count_usage
        self.key: torch.Tensor | None = None
        self.shrinkage: torch.Tensor | None = None
        self.selection: torch.Tensor | None = None
        self.values: list[torch.Tensor] = []
        self.groups: list[tuple[int, ...]] = []
        self.cell_frame: torch.Tensor | None = None
        self.cell_pixel: torch.Tensor | None = None
        self.value_frames: list[torch.Tensor] = []
        self.use_count: torch.Tensor | None = None
        self.life_count: torch.Tensor | None = None

    # ------------------------------------------------------------ shape
    @property
    def size(self) -> int:
        """``N``, the number of cells."""
        return 0 if self.key is None else self.key.shape[-1]

    @property
    def num_groups(self) -> int:
        return len(self.values)

    def group_size(self, g: int) -> int:
        """``N_g``, the cells group ``g`` has values for (its last keys)."""
        return self.values[g].shape[-1]

    @property
    def objects(self) -> list[int]:
        """Labels of the objects with values here, in readout order."""
        return [label for group in self.groups for label in group]

    # ----------------------------------------------------------- adding
    def _add_keys(self, key: torch.Tensor, shrinkage: torch.Tensor, selection: torch.Tensor | None,
                  frame: torch.Tensor, pixel: torch.Tensor) -> None:
        n = key.shape[-1]
        count = torch.zeros((1, 1, n), device=key.device, dtype=torch.float32)
        life = torch.full((1, 1, n), 1e-7, device=key.device, dtype=torch.float32)
        if self.key is None:
            self.key, self.shrinkage, self.selection = key, shrinkage, selection
            self.cell_frame, self.cell_pixel = frame, pixel
            if self.count_usage:
                self.use_count, self.life_count = count, life
            return
        if (selection is None) != (self.selection is None):
            raise ValueError("give a selection with every memory frame or with none")
        self.key = torch.cat([self.key, key], -1)
        self.shrinkage = torch.cat([self.shrinkage, shrinkage], -1)
        if selection is not None:
            self.selection = torch.cat([self.selection, selection], -1)
        self.cell_frame = torch.cat([self.cell_frame, frame])
        self.cell_pixel = torch.cat([self.cell_pixel, pixel])
        if self.count_usage:
            self.use_count = torch.cat([self.use_count, count], -1)
            self.life_count = torch.cat([self.life_count, life], -1)

    def add_frame(self, key: torch.Tensor, shrinkage: torch.Tensor, selection: torch.Tensor | None,
                  value: torch.Tensor, objects: Sequence[int], frame: int) -> None:
        """Add one frame's cells (working memory).

        Objects already here extend their groups; the others form a new group.

        Args:
            key: ``[1, Ck, HW]``; shrinkage: ``[1, 1, HW]``; selection: ``[1, Ck, HW]`` or ``None``.
            value: ``[K, Cv, HW]``, channel ``k`` for the object labelled ``k + 1``.
            objects: the labels to store, ascending; every object already here must be among them.
            frame: the frame's index (recorded for :class:`MemoryLayout`).
        """
        objects = [int(o) for o in objects]
        if not objects or objects != sorted(set(objects)) or objects[0] < 1 or objects[-1] > value.shape[0]:
            raise ValueError(f"objects must be ascending labels in 1..{value.shape[0]} (the value's channels), "
                             f"got {objects}")
        stored = self.objects
        missing = sorted(set(stored) - set(objects))
        if missing:
            raise ValueError(f"objects {missing} are in memory but not in objects {objects}")
        new = [o for o in objects if o not in stored]
        if new and stored and new[0] < stored[-1]:
            raise ValueError(f"objects added later must have larger labels than those in memory: {new} after {stored}")
        n = key.shape[-1]
        frames = torch.full((n,), frame, dtype=torch.long, device=key.device)
        self._add_keys(key, shrinkage, selection, frames, torch.arange(n, device=key.device))
        for g, labels in enumerate(self.groups):
            self.values[g] = torch.cat([self.values[g], value[[o - 1 for o in labels]]], -1)
            self.value_frames[g] = torch.cat([self.value_frames[g], frames])
        if new:
            self.values.append(value[[o - 1 for o in new]])
            self.value_frames.append(frames)
            self.groups.append(tuple(new))

    def add_groups(self, key: torch.Tensor, shrinkage: torch.Tensor, values: Sequence[torch.Tensor | None],
                   groups: Sequence[tuple[int, ...]], cell_frame: torch.Tensor, cell_pixel: torch.Tensor,
                   value_frames: Sequence[torch.Tensor | None]) -> None:
        """Add cells whose values come already split by group (long-term memory; no selection).

        Args:
            key: ``[1, Ck, P]``; shrinkage: ``[1, 1, P]``.
            values: per group ``[n_g, Cv, P_g]`` or ``None`` (no values for that group this time;
                a group with values has all earlier groups with values too).
            groups: the labels of each group (for groups new here).
            cell_frame, cell_pixel: ``[P]`` int64, where each key came from.
            value_frames: per group ``[P_g]`` int64 or ``None``.
        """
        self._add_keys(key, shrinkage, None, cell_frame, cell_pixel)
        for g, (v, vf) in enumerate(zip(values, value_frames)):
            if v is None:
                continue
            if g < self.num_groups:
                self.values[g] = torch.cat([self.values[g], v], -1)
                self.value_frames[g] = torch.cat([self.value_frames[g], vf])
            else:
                assert g == self.num_groups, "groups must enter in order"
                self.values.append(v)
                self.value_frames.append(vf)
                self.groups.append(tuple(groups[g]))

    # ------------------------------------------------------------ usage
    def update_usage(self, usage: torch.Tensor) -> None:
        """Count one read: ``usage [N]`` (each cell's affinity summed over query pixels) adds to the use counts.

        Every life count grows by 1.  A no-op unless the store counts usage.
        """
        if not self.count_usage:
            return
        self.use_count += usage.detach().view_as(self.use_count)
        self.life_count += 1

    def usage(self) -> torch.Tensor:
        """``[1, 1, N]`` float32: use count / life count (the mean affinity a cell got per read since it was added)."""
        if not self.count_usage:
            raise RuntimeError("this store does not count usage")
        return self.use_count / self.life_count

    # ---------------------------------------------------------- removal
    def slice(self, start: int, keep_last: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None,
                                                         torch.Tensor]:
        """Cells ``start .. N - keep_last``: key ``[1, Ck, n]``, shrinkage, selection and usage ``[1, 1, n]``."""
        stop = self.size - keep_last
        sel = None if self.selection is None else self.selection[:, :, start:stop]
        return self.key[:, :, start:stop], self.shrinkage[:, :, start:stop], sel, self.usage()[:, :, start:stop]

    def drop(self, start: int, keep_last: int, min_group_size: int) -> None:
        """Keep the first ``start`` and the last ``keep_last`` cells; drop those between.

        A group with at least ``min_group_size`` values drops the same range of
        its own values (its first ``start`` and last ``keep_last`` stay); a
        smaller group keeps all of its values.
        """
        def cut(t: torch.Tensor, dim: int = -1) -> torch.Tensor:
            n = t.shape[dim]
            return torch.cat([t.narrow(dim, 0, start), t.narrow(dim, n - keep_last, keep_last)], dim)

        self.key, self.shrinkage = cut(self.key), cut(self.shrinkage)
        if self.selection is not None:
            self.selection = cut(self.selection)
        self.cell_frame, self.cell_pixel = cut(self.cell_frame), cut(self.cell_pixel)
        if self.count_usage:
            self.use_count, self.life_count = cut(self.use_count), cut(self.life_count)
        for g in range(self.num_groups):
            if self.group_size(g) >= min_group_size:
                self.values[g] = cut(self.values[g])
                self.value_frames[g] = cut(self.value_frames[g])

    def remove_obsolete(self, max_size: int) -> None:
        """Remove the least used cells until at most ``max_size`` remain.

        Every cell whose usage is not above the ``(N - max_size)``-th smallest
        goes (ties may remove a few more).  Each group keeps the values of its
        surviving cells, still aligned with the last keys.
        """
        excess = self.size - max_size
        if excess <= 0:
            return
        usage = self.usage().flatten()
        survived = usage > usage.kthvalue(excess).values
        self.key, self.shrinkage = self.key[:, :, survived], self.shrinkage[:, :, survived]
        if self.selection is not None:
            self.selection = self.selection[:, :, survived]
        self.cell_frame, self.cell_pixel = self.cell_frame[survived], self.cell_pixel[survived]
        self.use_count, self.life_count = self.use_count[:, :, survived], self.life_count[:, :, survived]
        for g in range(self.num_groups):
            mine = survived[survived.numel() - self.group_size(g):]
            self.values[g] = self.values[g][:, :, mine]
            self.value_frames[g] = self.value_frames[g][mine]


# ------------------------------------------------------------- the reading
@dataclass(frozen=True)
class MemoryLayout:
    """What each memory cell is: the columns of :attr:`MemoryWeights.affinity`.

    Columns ``[0, num_long_term)`` are long-term prototypes, then working
    memory, ``h * w`` cells per frame, in the order of :attr:`working_frames`.

    Attributes:
        num_long_term: long-term prototypes.
        working_frames: the frame index of each working-memory frame, in column order
            (the first memorised frame first; it is never consolidated).
        hw: ``(h, w)`` of a memory frame.
        cell_frame: ``[N_mem]`` int64: the frame each cell's key came from (a
            prototype's key is the key of one working-memory cell it was chosen from).
        cell_pixel: ``[N_mem]`` int64: that key's flat position ``y * w + x``.
        groups: the object labels of each group, in readout order.
        group_long_term: per group, how many of the *last* long-term cells it reads.
        group_working: per group, how many of the *last* working-memory cells it reads.
        group_value_frames: per group, ``[n_lt + n_wm]`` int64: the frame each of its
            value columns was computed for (paired with the keys above; see the
            module notes for where XMem's pairing differs from ``cell_frame``).
    """

    num_long_term: int
    working_frames: tuple[int, ...]
    hw: tuple[int, int]
    cell_frame: torch.Tensor
    cell_pixel: torch.Tensor
    groups: tuple[tuple[int, ...], ...]
    group_long_term: tuple[int, ...]
    group_working: tuple[int, ...]
    group_value_frames: tuple[torch.Tensor, ...] = field(repr=False)

    @property
    def size(self) -> int:
        """``N_mem``, every memory cell."""
        return self.cell_frame.numel()

    @property
    def long_term(self) -> slice:
        """The prototypes' columns."""
        return slice(0, self.num_long_term)

    @property
    def objects(self) -> list[int]:
        """Object labels in readout order."""
        return [label for group in self.groups for label in group]

    def frame_columns(self, frame: int) -> slice:
        """The working-memory columns of frame ``frame``.

        Raises:
            KeyError: the frame is not in working memory.
        """
        if frame not in self.working_frames:
            raise KeyError(f"frame {frame} is not in working memory (it holds {list(self.working_frames)})")
        hw = self.hw[0] * self.hw[1]
        start = self.num_long_term + self.working_frames.index(frame) * hw
        return slice(start, start + hw)

    def group_columns(self, g: int) -> torch.Tensor:
        """``[N_mem]`` bool: the cells group ``g`` reads."""
        readable = torch.zeros(self.size, dtype=torch.bool, device=self.cell_frame.device)
        readable[self.num_long_term - self.group_long_term[g]:self.num_long_term] = True
        readable[self.size - self.group_working[g]:] = True
        return readable


@dataclass(frozen=True)
class MemoryWeights:
    """The read's weights over memory cells: which cell each query pixel reads, for each object.

    Attributes:
        affinity: ``[K, N_mem, HW]``: for object ``layout.objects[k]``, column
            ``j`` is the distribution over memory cells that query pixel ``j``
            (flat ``y * w + x``) reads; it sums to 1 and has at most ``top_k``
            non-zeros.  Objects of one group have the same rows.
        layout: what each memory cell is.
    """

    affinity: torch.Tensor
    layout: MemoryLayout

    def long_term_share(self) -> torch.Tensor:
        """``[K, HW]``: the weight each query pixel gives to long-term prototypes."""
        return self.affinity[:, self.layout.long_term].sum(1)

    def frame_shares(self) -> torch.Tensor:
        """``[K, T, HW]``: the weight each query pixel gives to each frame of ``layout.working_frames``."""
        k, _, q = self.affinity.shape
        hw = self.layout.hw[0] * self.layout.hw[1]
        working = self.affinity[:, self.layout.num_long_term:]
        return working.reshape(k, len(self.layout.working_frames), hw, q).sum(2)


def _potentiation_weights(similarity: torch.Tensor, index: torch.Tensor,
                          size: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """How a group's prototypes mix its candidates: a softmax over the group's candidates per prototype.

    Args:
        similarity: ``[1, n, P]`` of the ``n`` candidates (rows) to the prototypes' keys (columns).
        index: ``[P]``, each prototype's position among the candidates.
        size: the group has values for the last ``size`` candidates.

    Returns:
        ``valid [P]`` bool (the prototypes among the group's candidates) and the
        affinity ``[1, size, P_valid]``; ``None`` when no prototype is among them.
    """
    n = similarity.shape[1]
    valid = index >= n - size
    if not bool(valid.any()):
        return None
    return valid, ops.topk_softmax(similarity[:, n - size:, valid])


# ------------------------------------------------------------------ manager
class XMemMemory:
    """XMem's memory manager: working, long-term and sensory memory of one video.

    Args:
        config: the settings (default: XMem's evaluation defaults).
        hidden_dim: ``Ch``, channels of the hidden state (the network's; 64
            for XMem's released models, 0 for a model without one).

    Tensors keep the device and dtype they are given in (usage counts are
    float32).  Nothing is detached: run reads under ``torch.inference_mode()``
    unless gradients through the memory are wanted.
    """

    def __init__(self, config: XMemMemoryConfig | None = None, *, hidden_dim: int = 64):
        if hidden_dim < 0:
            raise ConfigError("hidden_dim must be >= 0", option="hidden_dim")
        self.config = config or XMemMemoryConfig()
        self.hidden_dim = hidden_dim
        self.working = KeyValueStore(count_usage=self.config.enable_long_term)
        self.long_term = KeyValueStore(count_usage=self.config.enable_long_term_count_usage)
        self.hidden: torch.Tensor | None = None
        self.hw: tuple[int, int] | None = None
        self.num_added = 0
        self.num_consolidations = 0

    # ------------------------------------------------------------ state
    @property
    def objects(self) -> list[int]:
        """Labels of the objects in memory, in readout order (ascending)."""
        return self.working.objects

    @property
    def working_frames(self) -> list[int]:
        """Frame index of each working-memory frame, oldest first."""
        if self.working.key is None:
            return []
        hw = self.hw[0] * self.hw[1]
        return self.working.cell_frame[::hw].tolist()

    @property
    def num_working_frames(self) -> int:
        return 0 if self.hw is None else self.working.size // (self.hw[0] * self.hw[1])

    # ---------------------------------------------------------- sensory
    def create_hidden_state(self, num_objects: int, sample_key: torch.Tensor) -> torch.Tensor:
        """Make the hidden state hold ``num_objects`` objects: zeros for the new ones.

        Args:
            num_objects: every object tracked so far (not only the new ones).
            sample_key: ``[1, Ck, h, w]``, any key (gives ``h, w``, device and dtype).

        Returns:
            the hidden state ``[1, num_objects, Ch, h, w]`` (also kept as :attr:`hidden`).
        """
        h, w = sample_key.shape[-2:]
        have = 0 if self.hidden is None else self.hidden.shape[1]
        if num_objects < have:
            raise ValueError(f"the hidden state holds {have} objects; cannot shrink it to {num_objects}")
        zeros = sample_key.new_zeros((1, num_objects - have, self.hidden_dim, h, w))
        self.hidden = zeros if self.hidden is None else torch.cat([self.hidden, zeros], 1)
        return self.hidden

    # --------------------------------------------------------------- add
    def add_memory(self, key: torch.Tensor, shrinkage: torch.Tensor, value: torch.Tensor, objects: Sequence[int],
                   selection: torch.Tensor | None = None, *, frame: int | None = None) -> None:
        """Memorise a frame; consolidate into long-term memory when working memory is full.

        Args:
            key: ``[1, Ck, h, w]``.
            shrinkage: ``[1, 1, h, w]``.
            value: ``[1, K, Cv, h, w]``, channel ``k`` for the object labelled ``k + 1``.
            objects: the labels of every object so far, ascending (``1..K`` in XMem).
            selection: ``[1, Ck, h, w]``; kept (for consolidation) only with long-term memory on.
            frame: the frame's index, recorded for :meth:`layout` (default: the number of frames added before).
        """
        if key.ndim != 4 or key.shape[0] != 1:
            raise ValueError(f"key must be [1, Ck, h, w], got {tuple(key.shape)}")
        if value.ndim != 5 or value.shape[0] != 1 or value.shape[-2:] != key.shape[-2:]:
            raise ValueError(f"value must be [1, K, Cv, h, w] with the key's h, w, got {tuple(value.shape)}")
        if shrinkage.shape != (1, 1, *key.shape[-2:]):
            raise ValueError(f"shrinkage must be [1, 1, h, w], got {tuple(shrinkage.shape)}")
        hw = tuple(key.shape[-2:])
        if self.hw is None:
            self.hw = hw  # type: ignore[assignment]
        elif hw != self.hw:
            raise ValueError(f"key is {hw[0]}x{hw[1]} but memory holds {self.hw[0]}x{self.hw[1]} frames")
        cfg = self.config
        if not cfg.enable_long_term:
            selection = None
        elif selection is not None:
            selection = selection.flatten(2)
        self.working.add_frame(key.flatten(2), shrinkage.flatten(2), selection, value[0].flatten(2), objects,
                               self.num_added if frame is None else frame)
        self.num_added += 1
        n_hw = hw[0] * hw[1]
        if cfg.enable_long_term and self.working.size >= cfg.max_mid_term_frames * n_hw:
            room = cfg.max_long_term_elements - cfg.num_prototypes
            if self.long_term.size >= room:
                if not cfg.enable_long_term_count_usage:
                    raise ConfigError("long-term memory is full and its usage is not counted: turn "
                                      "enable_long_term_count_usage on (XMemMemoryConfig.for_video sets it)",
                                      option="enable_long_term_count_usage")
                self.long_term.remove_obsolete(room)
            self._consolidate()

    def _consolidate(self) -> None:
        """Working-memory frames ``1 .. T - T_min`` -> ``num_prototypes`` long-term prototypes."""
        cfg = self.config
        hw = self.hw[0] * self.hw[1]
        work = self.working
        keep_last = (cfg.min_mid_term_frames - 1) * hw  # the first frame and these stay
        total = work.size
        key, shrinkage, selection, usage = work.slice(hw, keep_last)
        n = key.shape[-1]
        # each group's candidate values, group-local (a later group has only the last ones)
        candidates = [work.values[g][:, :, hw:work.group_size(g) - keep_last]
                      if work.group_size(g) == total or work.group_size(g) > keep_last + 2 * hw else None
                      for g in range(work.num_groups)]
        index = usage.topk(min(cfg.num_prototypes, n), dim=-1, sorted=True).indices.flatten()  # most used first
        proto_key = key[:, :, index]
        proto_selection = None if selection is None else selection[:, :, index]
        similarity = ops.similarity(key, shrinkage, proto_key, proto_selection)  # [1, n, P]
        weights = [None if c is None else _potentiation_weights(similarity, index, c.shape[-1]) for c in candidates]
        values = [None if w is None else c @ w[1] for c, w in zip(candidates, weights)]
        value_frames = [None if w is None else work.cell_frame[hw + index[w[0]]] for w in weights]
        proto_shrinkage = shrinkage @ weights[0][1]
        proto_frame = work.cell_frame[hw + index]
        proto_pixel = work.cell_pixel[hw + index]
        work.drop(hw, keep_last, min_group_size=keep_last + 2 * hw)
        self.long_term.add_groups(proto_key, proto_shrinkage, values, work.groups, proto_frame, proto_pixel,
                                  value_frames)
        self.num_consolidations += 1

    # -------------------------------------------------------------- read
    def _affinities(self, query_key: torch.Tensor, selection: torch.Tensor | None,
                    keep: torch.Tensor | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Each group's affinity ``[1, N_g, HW]`` over the cells it reads (its long-term cells first).

        Also returns the usage ``[1, N_mem]`` of this read: the first group's
        affinity (it reads every cell) summed over query pixels.  With ``keep``
        (``[N_g]`` bool per group, :meth:`read`), a group reads only its kept cells
        (its affinity is ``[1, kept, HW]``, empty where it keeps none).
        """
        if self.working.key is None:
            raise ValueError("nothing is memorised yet: add_memory first")
        q = query_key.flatten(2)
        e = None if selection is None else selection.flatten(2)
        lt, work = self.long_term, self.working
        if lt.size:
            key = torch.cat([lt.key, work.key], -1)
            shrinkage = torch.cat([lt.shrinkage, work.shrinkage], -1)
        else:
            key, shrinkage = work.key, work.shrinkage
        similarity = ops.similarity(key, shrinkage, q, e)  # [1, N_lt + N_wm, HW]
        affinities = []
        for g in range(work.num_groups):
            rows = similarity[:, self._group_cells(g)]
            if keep is not None:
                rows = rows[:, keep[g]]
            affinities.append(ops.topk_softmax(rows, self.config.top_k) if rows.shape[1] else rows)
        return affinities, affinities[0].sum(2)

    def _group_cells(self, g: int) -> torch.Tensor:
        """``[N_g]`` int64: the memory cells group ``g`` reads, long-term first (its values' column order)."""
        lt, work = self.long_term, self.working
        n_lt, n_all = lt.size, lt.size + work.size
        n_lt_g = lt.group_size(g) if g < lt.num_groups else 0
        device = work.key.device
        return torch.cat([torch.arange(n_lt - n_lt_g, n_lt, device=device),
                          torch.arange(n_all - work.group_size(g), n_all, device=device)])

    def _group_values(self, g: int) -> torch.Tensor:
        """``[n_g, Cv, N_g]`` the values group ``g`` reads (long-term first)."""
        v = self.working.values[g]
        return torch.cat([self.long_term.values[g], v], -1) if g < self.long_term.num_groups else v

    def read(self, query_key: torch.Tensor, selection: torch.Tensor | None = None, *,
             leave_out: torch.Tensor | None = None) -> torch.Tensor:
        """The readout :meth:`match_memory` gives, with cells left out of the memory; counts no usage.

        Args:
            query_key: ``[1, Ck, h, w]``; selection: ``[1, Ck, h, w]`` or ``None``.
            leave_out: ``[N_mem]`` bool over :meth:`layout`'s cells: these are not in the memory (top-k and
                the softmax run over the others).  A group left with no cell reads zeros.

        Returns:
            ``[1, K, Cv, h, w]``.
        """
        keep = None
        if leave_out is not None:
            keep = [~leave_out[self._group_cells(g)] for g in range(self.working.num_groups)]
        affinities, _ = self._affinities(query_key, selection, keep)
        return self._readout(affinities, query_key, keep)

    def _readout(self, affinities: list[torch.Tensor], query_key: torch.Tensor,
                 keep: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Each group's values read with its affinity (of :meth:`_affinities`, with the same ``keep``):
        ``[1, K, Cv, h, w]``; a group that keeps no cell reads zeros."""
        readouts = []
        for g, affinity in enumerate(affinities):
            v = self._group_values(g)
            if keep is not None:
                v = v[..., keep[g]]
            readouts.append(v @ affinity if affinity.shape[1] else v.new_zeros((*v.shape[:2], affinity.shape[-1])))
        readout = torch.cat(readouts, 0)
        return readout.view(1, readout.shape[0], readout.shape[1], *query_key.shape[-2:])

    def match_memory(self, query_key: torch.Tensor, selection: torch.Tensor | None = None, *,
                     weights: bool = False) -> torch.Tensor | tuple[torch.Tensor, MemoryWeights]:
        """Read memory for a query frame and count the cells' usage.

        Args:
            query_key: ``[1, Ck, h, w]``.
            selection: ``[1, Ck, h, w]`` (the query's selection term) or ``None``.
            weights: also return the read's :class:`MemoryWeights` (what
                :meth:`memory_weights` gives before this read, without computing
                the similarities twice; ``[K, N_mem, h*w]``, large for long memories).

        Returns:
            ``[1, K, Cv, h, w]``, one readout per object in memory (``objects`` order),
            and with ``weights`` the :class:`MemoryWeights` of this read.
        """
        affinities, usage = self._affinities(query_key, selection)
        read_weights = self._weights(affinities) if weights else None
        n_lt = self.long_term.size
        self.working.update_usage(usage[:, n_lt:].flatten())
        if n_lt:
            self.long_term.update_usage(usage[:, :n_lt].flatten())
        readout = self._readout(affinities, query_key)
        return readout if read_weights is None else (readout, read_weights)

    def layout(self) -> MemoryLayout:
        """What each memory cell is now (long-term prototypes, then working memory by frame)."""
        lt, work = self.long_term, self.working
        if work.key is None:
            raise ValueError("nothing is memorised yet: add_memory first")
        cell_frame = work.cell_frame if not lt.size else torch.cat([lt.cell_frame, work.cell_frame])
        cell_pixel = work.cell_pixel if not lt.size else torch.cat([lt.cell_pixel, work.cell_pixel])
        n_lt = [lt.group_size(g) if g < lt.num_groups else 0 for g in range(work.num_groups)]
        value_frames = tuple(torch.cat([lt.value_frames[g], work.value_frames[g]]) if n_lt[g] else work.value_frames[g]
                             for g in range(work.num_groups))
        return MemoryLayout(lt.size, tuple(self.working_frames), self.hw, cell_frame, cell_pixel,
                            tuple(work.groups), tuple(n_lt), tuple(work.group_size(g) for g in range(work.num_groups)),
                            value_frames)

    def memory_weights(self, query_key: torch.Tensor, selection: torch.Tensor | None = None) -> MemoryWeights:
        """The weights :meth:`match_memory` reads with, over every memory cell; counts no usage.

        Args:
            query_key: ``[1, Ck, h, w]``; selection: ``[1, Ck, h, w]`` or ``None``.

        Returns:
            :class:`MemoryWeights`: ``affinity [K, N_mem, h*w]`` (zero on cells an
            object's group cannot read) and the :class:`MemoryLayout`.
        """
        affinities, _ = self._affinities(query_key, selection)
        return self._weights(affinities)

    def _weights(self, affinities: list[torch.Tensor]) -> MemoryWeights:
        """Each group's affinity over its own cells -> :class:`MemoryWeights` over every cell."""
        layout = self.layout()
        per_group = []
        for g, affinity in enumerate(affinities):
            full = affinity.new_zeros((layout.size, affinity.shape[-1]))
            full[layout.group_columns(g)] = affinity[0]
            per_group.append(full.expand(len(layout.groups[g]), *full.shape))
        return MemoryWeights(torch.cat(per_group, 0), layout)
