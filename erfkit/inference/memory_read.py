"""What a predictor's next frame reads from its memory, unit by unit: the family-free view behind temporal
attribution and the memory explorer.

A predictor holds its family's memory: STM's memorised frames, XMem's working memory frames and its long-term
prototypes.  :meth:`~erfkit.inference.Propagator.memory_read` shows it to the explainers as **units**, the
parts one weighs and leaves out:

* a memorised frame (STM's memory, XMem's working memory): its ``h * w`` cells;
* XMem's long-term memory, one unit: its prototypes.  A prototype's key is the key of one working-memory cell
  it was chosen from (:attr:`MemoryUnit.origins` names those frames; its map places each prototype's weight
  at that cell), and its value is a mix of the candidates' values: it is not a pixel of any frame.

Every memory cell belongs to one unit::

    read = predictor.memory_read(frame)           # after propagating to the frame before it
    read.units                                    # [MemoryUnit]: frames in memory (and "long-term")
    read.shares(k, region)                        # [U]: each unit's share of object slot k's read
    read.maps(k, (y, x))                          # [U, H, W]: the read's weights at a pixel, unit by unit
    read.labels(without=u)                        # [H, W] ids with unit u left out of the memory
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..model.memory_model import KEY_STRIDE

__all__ = ["MemoryUnit", "MemoryRead", "cell_shares", "cells_to_pixels", "is_region", "query_pixels"]


@dataclass(frozen=True)
class MemoryUnit:
    """One part of a memory: a memorised frame, or XMem's long-term memory.

    Attributes:
        kind: ``"frame"`` or ``"long-term"``.
        frame: the memorised frame's index (``None`` for the long-term memory).
        cells: how many memory cells it holds (``h * w`` for a frame, the prototypes for long-term).
        origins: long-term: the frames its prototypes' keys were chosen from (sorted); a frame: ``()``.
    """

    kind: Literal["frame", "long-term"]
    frame: int | None
    cells: int
    origins: tuple[int, ...] = ()

    def name(self, frame_name: Callable[[int], str] = str) -> str:
        """``frame_name(frame)`` for a frame (e.g. ``00005``), ``long-term`` for the prototypes."""
        return "long-term" if self.frame is None else frame_name(self.frame)

    def describe(self, frame_name: Callable[[int], str] = str) -> str:
        """A caption: ``memory 00005``, or ``long-term: 128 prototypes, keys from frames 00001-00009``."""
        if self.frame is not None:
            return f"memory {frame_name(self.frame)}"
        span = (frame_name(self.origins[0]) if len(self.origins) == 1 else
                f"{frame_name(self.origins[0])}-{frame_name(self.origins[-1])}") if self.origins else "?"
        return f"long-term: {self.cells} prototypes, keys from frames {span}"


def is_region(where) -> bool:
    """Whether ``where`` is an ``[H, W]`` region (else a point ``(y, x)``)."""
    return isinstance(where, (torch.Tensor, np.ndarray)) and where.ndim == 2


def query_pixels(where: tuple[int, int] | torch.Tensor, size: tuple[int, int], device) -> torch.Tensor:
    """``[H, W]`` float64 weights of a point (one pixel) or a region (``[H, W]`` bool: each of its pixels).

    Raises:
        ConfigError: a point outside the frame, a region of another size, an empty region.
    """
    H, W = size
    if is_region(where):
        where = torch.as_tensor(where)
        if tuple(where.shape) != (H, W):
            raise ConfigError(f"region is {where.shape[1]}x{where.shape[0]} but the frame is {W}x{H}")
        region = where.to(device=device) > 0
        if not region.any():
            raise ConfigError("the region is empty")
        return region.double()
    y, x = (int(v) for v in where)
    if not (0 <= y < H and 0 <= x < W):
        raise ConfigError(f"point ({y}, {x}) lies outside the {W}x{H} frame")
    out = torch.zeros((H, W), dtype=torch.float64, device=device)
    out[y, x] = 1
    return out


def cell_shares(pixels: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """``[H, W]`` pixel weights of the unpadded frame -> ``[h * w]`` each stride-16 cell's share (sums to 1).

    ``pad`` is ``(left, right, top, bottom)``, what the network added to reach a multiple of ``KEY_STRIDE``.
    """
    left, right, top, bottom = pad
    padded = F.pad(pixels, (left, right, top, bottom))
    s = KEY_STRIDE
    h, w = padded.shape[0] // s, padded.shape[1] // s
    share = padded.view(h, s, w, s).sum((1, 3)).flatten()
    return share / share.sum()


def cells_to_pixels(cells: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """``[..., h, w]`` one value per cell -> ``[..., H, W]``: each cell's value over its pixels, padding cropped."""
    left, right, top, bottom = pad
    s = KEY_STRIDE
    full = cells.repeat_interleave(s, -2).repeat_interleave(s, -1)
    return full[..., top:full.shape[-2] - bottom, left:full.shape[-1] - right]


@dataclass
class MemoryRead:
    """The read of one query frame from a predictor's memory, unit by unit (built by the predictor).

    Attributes:
        units: the ``U`` units, in the order of every ``[U]`` result.
        object_ids: the object of each slot ``k``.
        grid: ``(h, w)`` of the query's (and a memorised frame's) stride-16 cells.
        cell_unit: ``[N]`` int64: the unit of each memory cell.
        cell_pixel: ``[N]`` int64: where in the ``(h, w)`` grid each cell lies (a prototype: the cell its key
            was chosen from).
        weights: slot ``k`` -> ``[N, h * w]`` the read's distribution over memory cells for each query cell
            (each column sums to 1).
        query_cells: a point ``(y, x)`` or ``[H, W]`` region of the file's frame -> ``[h * w]`` its share
            in each query cell.
        to_frame: ``[U, h, w]`` cell values -> ``[U, H, W]`` at the file's size.
        segment: the unit left out (``None``: none) -> ``[H, W]`` uint8 object ids at the file's size.
    """

    units: list[MemoryUnit]
    object_ids: list[int]
    grid: tuple[int, int]
    cell_unit: torch.Tensor
    cell_pixel: torch.Tensor
    weights: Callable[[int], torch.Tensor]
    query_cells: Callable[[tuple[int, int] | torch.Tensor], torch.Tensor]
    to_frame: Callable[[torch.Tensor], torch.Tensor]
    segment: Callable[[int | None], np.ndarray]

    def slot(self, object_id: int) -> int:
        """The slot ``k`` of ``object_id``.

        Raises:
            ConfigError: the memory holds no such object.
        """
        if object_id not in self.object_ids:
            raise ConfigError(f"object {object_id} is not in memory (objects: {self.object_ids})")
        return self.object_ids.index(object_id)

    def row(self, k: int, where: tuple[int, int] | torch.Tensor) -> torch.Tensor:
        """``[N]`` the read of slot ``k`` at a point or region: its cells' rows, weighted by their share."""
        p = self.weights(k)
        return (p.double() @ self.query_cells(where).to(p.device)).to(p.dtype)

    def shares(self, k: int, where: tuple[int, int] | torch.Tensor) -> torch.Tensor:
        """``[U]`` each unit's share of slot ``k``'s read at a point or region (sums to 1)."""
        row = self.row(k, where)
        return row.new_zeros(len(self.units)).index_add_(0, self.cell_unit.to(row.device), row)

    def maps(self, k: int, where: tuple[int, int] | torch.Tensor) -> torch.Tensor:
        """``[U, H, W]`` the read of slot ``k`` at a point or region, each cell's weight over its pixels.

        A frame's map is its cells; the long-term map places each prototype's weight at the cell its key was
        chosen from (prototypes chosen at one place add up).
        """
        row = self.row(k, where)
        h, w = self.grid
        flat = self.cell_unit.to(row.device) * (h * w) + self.cell_pixel.to(row.device)
        cells = row.new_zeros(len(self.units) * h * w).index_add_(0, flat, row)
        return self.to_frame(cells.view(len(self.units), h, w))

    def labels(self, without: int | None = None) -> np.ndarray:
        """``[H, W]`` uint8 object ids: the query segmented from the whole memory, or with unit ``without`` left out."""
        if without is not None and not 0 <= without < len(self.units):
            raise ConfigError(f"unit {without} outside the memory's {len(self.units)} units")
        return self.segment(without)
