"""Which memory pixels a prediction reads: the memory read's attention, per object, at a point or a region.

A memory network segments a query frame by reading its memory: every query
cell (a stride-16 cell of the padded frame) takes a distribution over every
memory cell ``(t, y, x)`` of every memorised frame, for each object (STM: a
softmax; XMem: a softmax over the top-k cells by its anisotropic similarity).  That row
of weights is exactly what the prediction at the cell is made of::

    att = memory_attention(model, memory, frame, (120, 200), object=0)
    att.weights       # [T, h, w]: the softmax row (sums to 1)
    att.frame_mass    # [T]: each memory frame's share
    att.maps          # [T, H, W]: the weights at frame size, padding cropped

A region (an ``[H, W]`` bool mask instead of a point) gives the mean row of
its pixels (each pixel counts once, so a cell weighs by the region's pixels in it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..inference.memory_read import cell_shares, cells_to_pixels, query_pixels
from ..model.memory_model import KEY_STRIDE, MemoryFrames, MemoryModel, QueryState

__all__ = ["MemoryAttention", "memory_attention"]


@dataclass
class MemoryAttention:
    """The memory read of one object at a point or region of the query frame.

    Attributes:
        weights: ``[T, h, w]`` the softmax row (mean row for a region) over the memory's cells; sums to 1
            (to 0 when the object has no readable memory frame).
        frame_mass: ``[T]`` each memory frame's share of the read.
        maps: ``[T, H, W]`` the weights at the frame's size (each cell's weight over its 16x16 pixels,
            the padding cropped).
        cells: ``[N, 2]`` the ``(y, x)`` query cells read (of the padded stride-16 grid), with
        cell_weights: ``[N]`` the share of the point or region in each.
        object: the object slot.
    """

    weights: torch.Tensor
    frame_mass: torch.Tensor
    maps: torch.Tensor
    cells: torch.Tensor
    cell_weights: torch.Tensor
    object: int


@torch.no_grad()
def memory_attention(model: MemoryModel, memory: MemoryFrames, frame: torch.Tensor | QueryState,
                     where: tuple[int, int] | torch.Tensor, *, object: int = 0) -> MemoryAttention:
    """The memory read's attention for object slot ``object`` at a point or region of the query frame.

    Args:
        model: the network (any :class:`~erfkit.model.memory_model.MemoryModel`).
        memory: what the frame is read from, batch 1 (e.g. :meth:`erfkit.VideoPredictor.current_memory`).
        frame: the query frame ``[1, 3, H, W]`` (on the network's canvas) or its
            :meth:`~erfkit.model.memory_model.MemoryModel.encode_query` (then ``H, W`` come from its padding).
        where: ``(y, x)``, a pixel of the frame, or an ``[H, W]`` bool region.
        object: the object slot ``k`` (0-based, in the memory's object order).

    Returns:
        :class:`MemoryAttention`.

    Raises:
        ConfigError: a point outside the frame, an empty region, an object slot the memory lacks.
    """
    q = model.encode_query(frame) if isinstance(frame, torch.Tensor) else frame
    B, K, T = memory.batch, memory.num_objects, memory.num_frames
    if B != 1:
        raise ConfigError(f"memory_attention reads one frame's memory (batch 1), got batch {B}")
    if not 0 <= object < K:
        raise ConfigError(f"object slot {object} outside the memory's {K} object(s)")
    if q.grid != memory.grid:
        raise ConfigError("the frame and the memory come from frames of different sizes")
    h, w = q.grid
    left, right, top, bottom = q.pad
    H, W = h * KEY_STRIDE - top - bottom, w * KEY_STRIDE - left - right
    share = cell_shares(query_pixels(where, (H, W), q.key.device), q.pad)  # the point's or region's share per cell
    p = model.memory_weights(memory.select([object]), q)[0, 0]  # [T*h*w, h*w]
    row = (p.double() @ share).to(p.dtype)  # the mean row of the cells, weighted by their share
    weights = row.view(T, h, w)
    maps = cells_to_pixels(weights, q.pad)
    cells = torch.nonzero(share.view(h, w) > 0)
    return MemoryAttention(weights, weights.sum((1, 2)), maps, cells, share[share > 0].to(p.dtype), object)
