"""Choosing the compute device once, at the entry point, and tuning the CPU (allocator, threads)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

import torch
import torch.distributed as dist

__all__ = ["resolve_device", "keep_freed_memory", "init_distributed", "single_threaded_ops", "at_once"]

T = TypeVar("T")

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return a :class:`torch.device`: the one asked for, or the best available.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, a device, or
            ``None``/``"auto"`` to pick CUDA, then MPS, then the CPU.
    """
    if isinstance(device, torch.device):
        return device
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Let glibc keep freed CPU memory for reuse instead of handing it back to the OS.

    A training step allocates and frees the same large activation buffers every
    step.  With glibc's defaults many of them come from fresh ``mmap`` pages (or
    a heap trimmed at every free), so each step pays page faults again
    (``python -m benchmarks.train_step`` measures steps with both settings;
    the cyclic step, which holds more activations, gains most).  This sets
    glibc's ``M_MMAP_THRESHOLD`` (buffers below it come from the heap) and
    ``M_TRIM_THRESHOLD`` (free heap kept before trimming) for this process; the
    cost is up to ``trim_threshold`` bytes of idle memory kept.  It is what
    ``erfkit train`` calls; PyTorch's CPU tuning guide reaches the same end by
    preloading jemalloc or tcmalloc.

    Returns:
        ``True`` if applied; ``False`` where the C library is not glibc (nothing
        is changed there).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    # Setting either one turns off glibc's adaptive thresholds, so set both: a
    # trim threshold alone leaves every buffer over 128 KiB to mmap (three times
    # slower steps), an mmap threshold alone trims the heap at every free.
    applied = mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) and mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))
    return bool(applied)


def init_distributed(device: str | torch.device | None = None) -> tuple[int, int, torch.device]:
    """``(rank, world size, device)`` of this process; under ``torchrun`` the process group is joined.

    One process (no ``WORLD_SIZE`` above 1): ``(0, 1, resolve_device(device))``.
    Under ``torchrun``: NCCL with one GPU per local rank when CUDA is there and
    ``device`` allows it, else gloo on the CPU with the cores shared among the
    local processes.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, resolve_device(device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and str(device or "auto") in ("auto", "cuda"):
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        dev = torch.device("cpu")
        backend = "gloo"
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), dev


@contextlib.contextmanager
def single_threaded_ops():
    """Every CPU operation on one thread while the block runs (the process's setting restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Run ``calls`` at the same time, one thread each (the first in the calling thread), every CPU operation
    single-threaded; their results in order.  Two small networks on a core each keep two cores busier than one
    network on two intra-op threads."""
    with single_threaded_ops(), ThreadPoolExecutor(max(1, len(calls) - 1)) as pool:
        rest = [pool.submit(c) for c in calls[1:]]
        return [calls[0](), *(f.result() for f in rest)]
