"""``--batch auto``: as many cycle-ERF reference frames per batch as the memory holds.

The memory a batch needs is measured, not guessed: one cycle-ERF step is run
with one and with two reference frames while every tensor autograd keeps for
the backward pass is counted (``torch.autograd.graph.saved_tensors_hooks``).
The difference is what one more frame costs; the rest is the batch's fixed
part.  The count is exact and the same on every machine and device for a
model, size and object count, so the ranks of a torchrun job agree (they also
take the smallest answer, as their free memory may differ).  A margin
(:data:`OVERHEAD`) covers the transient tensors of the forward and backward
passes.  The budget is the free memory: on a GPU ``torch.cuda.mem_get_info``,
on a CPU ``MemAvailable``, shared among the processes of the machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from ..data.letterbox import Letterbox
from ..data.video import VideoSequence
from ..errors import DataError
from ..model.memory_model import MemoryModel
from ..tensors import frame_tensor, onehot
from .cycle import CycleERF, CycleERFConfig

__all__ = ["BatchPlan", "plan_batch", "memory_budget", "saved_bytes", "OVERHEAD"]

#: peak memory over the tensors saved for backward (transients of the forward and backward passes)
OVERHEAD = 2.0
#: the share of the free memory a job's batches may use
SHARE = 0.6


@dataclass(frozen=True)
class BatchPlan:
    """How a batch size was chosen.

    Attributes:
        batch_size: reference frames per batch.
        per_frame: bytes autograd saves per reference frame; fixed: bytes the batch saves besides.
        budget: the bytes the batches may use (free memory share, per process).
        limit: the largest batch allowed (the video's length or ``limit``).
    """

    batch_size: int
    per_frame: int
    fixed: int
    budget: int
    limit: int

    def describe(self) -> str:
        return (f"batch {self.batch_size}: {self.per_frame / 2**20:.0f} MiB per frame + {self.fixed / 2**20:.0f} MiB "
                f"(x{OVERHEAD:g} margin) within {self.budget / 2**30:.1f} GiB")


def saved_bytes(fn) -> int:
    """The bytes of the distinct tensors autograd saves for backward while ``fn()`` runs."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        try:
            key = (t.untyped_storage().data_ptr(), t.device.type)
            seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        except RuntimeError:  # a tensor without storage (e.g. a view of a sparse one)
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def memory_budget(device: torch.device, processes: int | None = None) -> int:
    """The bytes one process's batches may use: a share of the free memory of ``device``, split among the
    ``processes`` of this machine (default: torchrun's ``LOCAL_WORLD_SIZE``, else 1)."""
    n = processes or int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
        return int(SHARE * free)  # each process has its own GPU under torchrun
    free = _mem_available()
    return int(SHARE * free / max(1, n))


def _mem_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def plan_batch(model: MemoryModel, sequence: VideoSequence, target: int, cycle: CycleERFConfig, *, size, device=None,
               limit: int = 32, budget: int | None = None) -> BatchPlan:
    """The cycle-ERF batch size for ``sequence`` (target frame ``target``) at the network input ``size``.

    Args:
        size: the input-size policy (``None``: native; ``(H, W)``).
        limit: the largest batch (also at most the video's length; give the number of frames asked for).
        budget: bytes to fit in (default: :func:`memory_budget` of the device).

    Raises:
        DataError: the target frame has no mask.
    """
    dev = torch.device(device) if device is not None else model.device
    if target not in sequence.annotation_paths:
        raise DataError(f"target frame {sequence.frame_name(target)} has no mask", sequence.name)
    labels = sequence.read_annotation(target)
    labels = np.where(labels == 255, 0, labels)
    objects = [int(o) for o in np.unique(labels) if o != 0]
    dtype = next(model.parameters()).dtype
    x = frame_tensor(sequence.read_frame(target), dev, dtype)
    box = Letterbox.fit(tuple(x.shape[-2:]), size)
    x_t, y_t = box.image(x), box.mask(onehot(labels, objects, dev, dtype))
    probe = CycleERF(model, CycleERFConfig(steps=1, rate=cycle.rate, gamma=cycle.gamma, batch_size=2,
                                           bootstrap=cycle.bootstrap))
    one, two = (saved_bytes(lambda b=b: probe.attribute(x_t.repeat(b, 1, 1, 1), x_t, y_t)) for b in (1, 2))
    per_frame = max(1, two - one)
    fixed = max(0, one - per_frame)
    if budget is None and dev.type == "cuda":
        torch.cuda.empty_cache()  # what the probes left in the allocator's cache is free
    room = budget if budget is not None else memory_budget(dev)
    cap = max(1, min(limit, len(sequence)))
    n = int((room / OVERHEAD - fixed) // per_frame)
    return BatchPlan(max(1, min(cap, n)), per_frame, fixed, room, cap)
