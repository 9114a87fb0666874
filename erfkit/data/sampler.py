"""The training sampler: clips of a few frames in temporal order, with a max-skip curriculum.

Each item is one clip of ``frames`` frames from one video: the first uniformly,
each next one from ``(last, last + max_skip]``; up to ``max_objects`` objects
present in the first frame; one augmentation for the whole clip.  Everything an
item holds follows from ``(seed, epoch, index)``, so items are the same with any
number of DataLoader workers, and a resumed run sees the same data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .augment import AugmentConfig, augment_clip
from .davis import DavisDataset
from .masks import VOID, read_frame, read_mask

__all__ = ["ClipDataset", "EpochBatchSampler", "collate_clips", "sample_frame_indices"]


def sample_frame_indices(rng: np.random.Generator, length: int, count: int, max_skip: int) -> list[int]:
    """``count`` increasing indices in ``[0, length)``: the first uniform, each next in ``(last, last + max_skip]``.

    The first index leaves room for the others, so a clip always fits.
    """
    if length < count:
        raise ValueError(f"a video of {length} frames cannot give {count} frames")
    max_skip = max(1, int(max_skip))
    first_hi = length - count  # leaves at least one frame per remaining pick
    idx = [int(rng.integers(0, first_hi + 1))]
    for j in range(1, count):
        last = idx[-1]
        hi = min(last + max_skip, length - (count - j))
        idx.append(int(rng.integers(last + 1, hi + 1)))
    return idx


@dataclass
class _Video:
    name: str
    frames: list
    annotations: list


class ClipDataset(torch.utils.data.Dataset):
    """Training clips from a DAVIS-layout split.

    Args:
        root: dataset root.
        split: the ``ImageSets/2017`` list (``train``).
        frames: frames per clip (the paper: 3).
        max_skip: initial largest gap between consecutive sampled frames.
        max_objects: objects per clip at most.
        size: output ``(H, W)``; smaller than the video's frames means random
            crops at the video's scale.
        augment: augmentation ranges (``None``: none).
        seed: the seed.
        length: items per epoch (default: one per video).

    Items are dicts: ``frames [T, 3, H, W]`` float, ``labels [T, H, W]`` long
    (slot ids 0..k), ``num_objects`` int, ``video`` str, ``indices`` list.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", *, frames: int = 3, max_skip: int = 5,
                 max_objects: int = 3, size: tuple[int, int] = (240, 427), augment: AugmentConfig | None = None,
                 seed: int = 0, length: int | None = None, resolution: str | None = None):
        if frames < 2:
            raise ConfigError("a training clip needs at least 2 frames")
        if max_objects < 1:
            raise ConfigError("max_objects must be >= 1")
        ds = DavisDataset(root, split, resolution)
        self.videos: list[_Video] = []
        for seq in ds:
            ann = [seq.annotation_paths.get(i) for i in range(len(seq))]
            keep = [i for i, a in enumerate(ann) if a is not None]
            if len(keep) < frames:
                continue
            self.videos.append(_Video(seq.name, [seq.frame_paths[i] for i in keep], [ann[i] for i in keep]))
        if not self.videos:
            raise DataError(f"no video of split {split!r} has {frames} annotated frames", root)
        self.num_frames = frames
        self.max_skip = max_skip
        self.max_objects = max_objects
        self.size = tuple(size)
        self.augment = augment
        self.seed = seed
        self.length = length or len(self.videos)
        self.epoch = 0

    # -------------------------------------------------------------- curriculum
    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_max_skip(self, max_skip: int) -> None:
        self.max_skip = max(1, int(max_skip))

    def increase_max_skip(self, step: int = 5, cap: int = 25) -> int:
        """Raise the max skip by ``step`` (at most ``cap``); returns the new value."""
        self.max_skip = min(self.max_skip + step, cap)
        return self.max_skip

    # ------------------------------------------------------------------ items
    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        video = self.videos[int(index) % len(self.videos)]
        n = len(video.frames)
        for _attempt in range(20):
            idx = sample_frame_indices(rng, n, self.num_frames, self.max_skip)
            labels = [read_mask(video.annotations[i]) for i in idx]
            first = labels[0]
            ids, counts = np.unique(first[(first != 0) & (first != VOID)], return_counts=True)
            ids = ids[counts >= 10]
            if ids.size:
                break
        else:
            raise DataError("no object visible in the sampled first frames", video.name)
        chosen = rng.permutation(ids)[: self.max_objects]
        slot = np.zeros(256, np.int64)
        slot[chosen] = np.arange(1, len(chosen) + 1)
        lab = torch.from_numpy(np.stack([slot[m] for m in labels]))
        frames = torch.from_numpy(np.stack([read_frame(video.frames[i]) for i in idx])).permute(0, 3, 1, 2)
        frames = frames.float().div_(255)
        cfg = self.augment or AugmentConfig.none()
        for _attempt in range(10):
            f_out, l_out = augment_clip(rng, frames, lab, cfg, self.size)
            if (l_out[0] > 0).any():  # the crop keeps an object in the first frame
                break
        present = torch.unique(l_out[0])
        # Objects cropped out of the first frame are dropped; slots stay 1..k.
        remap = torch.zeros(len(chosen) + 1, dtype=torch.long)
        keep = [int(k) for k in present if k > 0]
        remap[torch.tensor(keep, dtype=torch.long)] = torch.arange(1, len(keep) + 1)
        l_out = remap[l_out]
        return {"frames": f_out, "labels": l_out, "num_objects": len(keep), "video": video.name, "indices": idx}


def collate_clips(items: list[dict]) -> dict:
    """Batch clips, padding object slots to the largest count in the batch.

    Returns:
        ``frames [B, T, 3, H, W]``, ``masks [B, T, K+1, H, W]`` one-hot,
        ``valid [B, K]`` bool, ``videos``, ``indices``.
    """
    K = max(1, max(it["num_objects"] for it in items))
    frames = torch.stack([it["frames"] for it in items])
    labels = torch.stack([it["labels"] for it in items])  # [B, T, H, W]
    masks = torch.nn.functional.one_hot(labels.clamp(max=K), K + 1).permute(0, 1, 4, 2, 3).float()
    valid = torch.tensor([[k < it["num_objects"] for k in range(K)] for it in items])
    return {"frames": frames, "masks": masks, "valid": valid,
            "videos": [it["video"] for it in items], "indices": [it["indices"] for it in items]}


class EpochBatchSampler(torch.utils.data.Sampler):
    """Batches of one epoch, in an order fixed by ``(seed, epoch)``; resumable mid-epoch.

    With several processes, each takes its share of every global batch, so the
    processes together see exactly the global batch a single process would.

    Args:
        length: items per epoch.
        batch_size: the GLOBAL batch size.
        seed, epoch: fix the order.
        start_batch: skip the first batches (resuming).
        rank, world_size: this process's share.
    """

    def __init__(self, length: int, batch_size: int, seed: int, epoch: int, start_batch: int = 0,
                 rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ConfigError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.length, self.batch_size = length, batch_size
        self.seed, self.epoch, self.start = seed, epoch, start_batch
        self.rank, self.world = rank, world_size

    def batches_per_epoch(self) -> int:
        return self.length // self.batch_size

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch() - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        order = np.random.default_rng([self.seed, self.epoch, 7]).permutation(self.length)
        local = self.batch_size // self.world
        for b in range(self.start, self.batches_per_epoch()):
            batch = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield [int(i) for i in batch[self.rank * local:(self.rank + 1) * local]]
