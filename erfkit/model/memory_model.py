"""The memory-model interface: what erfkit's predictors and explainers need from a memory network.

A memory network segments a query frame by reading a memory of frames stored
with their masks.  STM and XMem are two such networks; every explainer
(cycle-ERF, classic ERF, Captum saliency, gradient correction, the memory
read's attention, error onset, dataset runs) is written against this
interface only, and temporal attribution and the memory explorer against the
family's predictor's ``memory_read`` (:mod:`erfkit.inference.memory_read`), so
a model family that implements both is explained by all of them.
``docs/model-families.md`` walks through adding one.

The operations (frames are RGB in ``[0, 1]``, ``[B, 3, H, W]``, any size: a
family pads them itself and crops its outputs back; masks are
``[B, K+1, H, W]`` probabilities over background + ``K`` objects):

* :meth:`MemoryModel.memory_stem`: the mask-independent part of memorising a
  frame, computed once and reused while only the mask changes (cycle-ERF's and
  gradient correction's descents);
* :meth:`MemoryModel.memorize`: frame + masks -> a :class:`MemoryFrames` entry;
* :meth:`MemoryModel.encode_query`: frame -> a :class:`QueryState` (mask-independent);
* :meth:`MemoryModel.memory_weights`: the read's weights over the memory's cells;
* :meth:`MemoryModel.object_logits`: read and decode, each object's
  foreground logit before the objects are merged;
* :meth:`MemoryModel.segment`: the merged logits ``[B, K+1, H, W]`` (soft aggregation);
* :attr:`MemoryModel.propagator`: the model's own memory policy on a video, a
  predictor named by import path and built by :class:`erfkit.VideoPredictor`;
* :meth:`MemoryModel.attribution_layer`: the layer Grad-CAM reads on each side.

What "memorise frame ``l`` alone" means is each family's to define and
document; for XMem it includes the sensory memory that frame's deep update
produces (see :meth:`erfkit.model.xmem.XMem.memorize`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal, Protocol, TypeVar

import torch


__all__ = ["KEY_STRIDE", "MemoryModel", "MemoryFrames", "QueryState", "Side", "soft_aggregate"]

#: the stride of every family's keys: a memory or query cell covers 16 x 16 pixels of the padded frame
KEY_STRIDE = 16

#: which frame an attribution is taken with respect to
Side = Literal["query", "memory"]

M = TypeVar("M", bound="MemoryFrames")


def soft_aggregate(probs: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Merge per-object foreground probabilities into one set of logits.

    ``bg = prod_o (1 - p_o)``; ``q = clamp([bg, p_1..p_K], 1e-7, 1 - 1e-7)``;
    the result is ``log(q / (1 - q))``, whose softmax over channels is the final
    distribution.

    Args:
        probs: ``[B, K, H, W]`` foreground probability of each object.
        valid: ``[B, K]`` bool; slots that hold no object contribute nothing.

    Returns:
        logits ``[B, K+1, H, W]`` (channel 0 is the background).
    """
    if valid is not None:
        probs = probs * valid[:, :, None, None].to(probs.dtype)
    bg = torch.prod(1 - probs, dim=1, keepdim=True)
    return torch.logit(torch.cat([bg, probs], dim=1), eps=1e-7)  # log(q / (1 - q)), q clamped


class MemoryFrames(Protocol):
    """A memory of ``T`` frames of ``B`` batch elements and ``K`` objects, on a stride-16 grid ``h x w``.

    Each family has its own class (:class:`erfkit.model.stm.Memory`,
    :class:`erfkit.model.xmem.XMemFrames`); the explainers use only these members.
    """

    @property
    def batch(self) -> int: ...

    @property
    def num_frames(self) -> int: ...

    @property
    def num_objects(self) -> int: ...

    @property
    def grid(self) -> tuple[int, int]: ...

    def select(self: M, index: torch.Tensor | list[int]) -> M:
        """Keep the object slots ``index``."""

    def without(self: M, frame: int) -> M:
        """The memory with memory frame ``frame`` (0-based, in memory order) left out."""

    def expand(self: M, batch: int) -> M:
        """A batch-1 memory repeated to ``batch`` elements (a view)."""

    def detach(self: M) -> M: ...


class QueryState(Protocol):
    """What a family's :meth:`MemoryModel.segment` needs from a query frame; none of it depends on a mask.

    Attributes:
        key: ``[B, Ck, h, w]`` the query's key.
        pad: ``(left, right, top, bottom)`` zeros the family added around the frame.
    """

    key: torch.Tensor
    pad: tuple[int, int, int, int]

    @property
    def grid(self) -> tuple[int, int]:
        """``(h, w)``: the stride-16 grid of the padded frame (the read's query cells)."""

    def expand(self, batch: int) -> "QueryState": ...

    def detach(self) -> "QueryState": ...


class MemoryModel(ABC):
    """The interface every model family implements (mixed into its ``nn.Module``).

    Attributes:
        family: the family's name (``"stm"``, ``"xmem"``), as checkpoints and results record it.
        propagator: ``"module:Class"`` of the predictor that runs the family's own
            memory policy on a video (:class:`erfkit.VideoPredictor` builds it).
        config: the architecture (a dataclass with ``name``, ``size_multiple`` and ``to_dict``).
        checkpoint: what is known about the file the weights came from (``None`` in memory).
    """

    family: str
    propagator: str
    config: Any
    checkpoint: Any = None

    @abstractmethod
    def memory_stem(self, frame: torch.Tensor) -> Any:
        """The mask-independent part of :meth:`memorize` of ``frame [B, 3, H, W]``."""

    @abstractmethod
    def memorize(self, frame: torch.Tensor, masks: torch.Tensor, *, stem: Any = None) -> MemoryFrames:
        """Memorise frames with their masks.

        Args:
            frame: ``[B, 3, H, W]`` RGB in ``[0, 1]``.
            masks: ``[B, K+1, H, W]`` probabilities (channel 0 the background).
            stem: optional cached :meth:`memory_stem` of ``frame``.

        Returns:
            a memory with ``T == 1``, ``B`` batch elements and ``K`` objects.
        """

    @abstractmethod
    def encode_query(self, frame: torch.Tensor) -> QueryState:
        """Everything :meth:`segment` needs from ``frame [B, 3, H, W]``; reusable across calls."""

    @abstractmethod
    def memory_weights(self, memory: MemoryFrames, query: QueryState) -> torch.Tensor:
        """The read's weights: ``[B, K, T*h*w, h*w]``, column ``j`` the distribution query cell ``j`` reads.

        Each column sums to 1 (0 for an object with nothing to read); memory
        cells are ordered ``(t, y, x)``.
        """

    @abstractmethod
    def object_logits(self, frame: torch.Tensor | QueryState, memory: MemoryFrames) -> torch.Tensor:
        """Read and decode: each object's foreground logit ``[B, K, H, W]``, before the objects are merged.

        ``frame`` is ``[B, 3, H, W]`` or its cached :meth:`encode_query` (a
        batch-1 query broadcasts to the memory's batch).  Unclamped: classic
        ERF and Captum take gradients of these.
        """

    @abstractmethod
    def attribution_layer(self, side: Side) -> str:
        """Dotted name of the layer Grad-CAM reads when attributing the ``query`` or the ``memory`` frame."""

    def object_probabilities(self, frame: torch.Tensor | QueryState, memory: MemoryFrames) -> torch.Tensor:
        """Each object's foreground probability ``[B, K, H, W]`` (the sigmoid of :meth:`object_logits`)."""
        return torch.sigmoid(self.object_logits(frame, memory))

    def segment(self, frame: torch.Tensor | QueryState, memory: MemoryFrames,
                valid: torch.Tensor | None = None) -> torch.Tensor:
        """Segment a frame from memory: logits ``[B, K+1, H, W]`` after soft aggregation.

        ``valid [B, K]`` bool marks the object slots that hold an object
        (default: all); ``logits.softmax(1)`` are the probabilities.
        """
        return soft_aggregate(self.object_probabilities(frame, memory), valid)
