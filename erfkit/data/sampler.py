"""The training sampler: clips of a few frames in temporal order, with a max-skip curriculum.

Each item is one clip of ``frames`` frames from one video: the first uniformly,
each next one from ``(last, last + max_skip]``; up to ``max_objects`` objects
present in the first frame; one augmentation for the whole clip (a ``static`` clip
repeats one frame, each copy warped on its own).  Everything an
item holds follows from ``(seed, epoch, index)``, so items are the same with any
number of DataLoader workers, and a resumed run sees the same data.

A clip reaches the training size in one of two ways (``sampling``):

* ``"crop"``: a random crop of that size at the file's own scale (with the
  augmentation's small zoom, rotation and shear);
* ``"letterbox"``: as the authors' code, each frame and mask is scaled into a
  canvas of that size (:class:`~erfkit.data.letterbox.Letterbox`: centred, zero
  border; mask pixels on object boundaries and on the border get no label),
  portrait frames being transposed first, and the augmentation is applied to
  the canvas.  Pixels without a label have label ``-1`` in an item and an
  all-zero one-hot vector after :func:`collate_clips`: they count for no class.

Training data may be DAVIS-layout (``ImageSets/2017/train.txt``) or
YouTube-VOS-layout (``train/meta.json``) roots; :class:`MixedClipDataset`
mixes several with sampling frequencies (the authors' DAVIS list repeated 5
times beside YouTube-VOS), each keeping its own max skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .augment import AugmentConfig, augment_clip
from .davis import DavisDataset
from .letterbox import Letterbox
from .masks import VOID, image_size, read_frame, read_mask
from .youtube import YouTubeVOSDataset

__all__ = ["ClipDataset", "MixedClipDataset", "EpochBatchSampler", "collate_clips", "sample_frame_indices",
           "data_layout", "UNLABELLED", "STATIC_AUGMENT"]

#: Label of the pixels that belong to no class (letterbox sampling: object boundaries, the canvas border).
UNLABELLED = -1

#: The warps of a static clip's frames (STM's first training stage: one image, each frame warped on its own).
STATIC_AUGMENT = AugmentConfig(crop=0.2, scale=(0.8, 1.2), shear=15.0, rotate=20.0, mirror=0.0, contrast=0.15,
                               noise=0.01)


def data_layout(root: str | os.PathLike) -> str:
    """``"youtube"`` for a YouTube-VOS-layout root (``train/meta.json``), else ``"davis"``."""
    return "youtube" if (Path(root) / "train" / "meta.json").is_file() else "davis"


def sample_frame_indices(rng: np.random.Generator, length: int, count: int, max_skip: int,
                         first: int | None = None) -> list[int]:
    """``count`` increasing indices in ``[0, length)``: the first uniform (or ``first``), each next in
    ``(last, last + max_skip]``.

    The first index leaves room for the others (at most ``length - count``), so a clip always fits.
    """
    if length < count:
        raise ValueError(f"a video of {length} frames cannot give {count} frames")
    max_skip = max(1, int(max_skip))
    first_hi = length - count  # leaves at least one frame per remaining pick
    idx = [int(rng.integers(0, first_hi + 1)) if first is None else int(first)]
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
    """Training clips from a DAVIS-layout or YouTube-VOS-layout split.

    Args:
        root: dataset root.
        split: the ``ImageSets/2017`` list (DAVIS) or the split folder
            (YouTube-VOS): ``train``.
        frames: frames per clip (the paper: 3).
        max_skip: initial largest gap between consecutive sampled frames.
        max_objects: objects per clip at most.
        size: output ``(H, W)``.
        augment: augmentation ranges (``None``: none).
        seed: the seed.
        length: items per epoch (default: one per video).
        resolution: the DAVIS resolution folder (found when there is one).
        sampling: ``"crop"`` (random crops of ``size`` at the video's scale)
            or ``"letterbox"`` (frames and masks letterboxed to ``size``, then
            augmented).
        layout: ``"davis"`` or ``"youtube"`` (default: :func:`data_layout`).
        static: the share of static clips: one annotated frame repeated, each copy warped on its own by
            ``static_augment`` (default :data:`STATIC_AUGMENT`), as STM's first training stage on still
            images. The object is where the warp puts it, so the memory can only be read by matching.

    Items are dicts: ``frames [T, 3, H, W]`` float, ``labels [T, H, W]`` long
    (slot ids 0..k, and :data:`UNLABELLED` where letterboxing leaves a pixel
    without a class), ``num_objects`` int, ``video`` str, ``indices`` list.
    A clip's first frame must show an object: after ``random_tries`` random
    draws without one, every possible first frame is tried in a random order.
    """

    #: random draws of a clip's frames before the first frames are tried one by one
    random_tries = 20

    def __init__(self, root: str | os.PathLike, split: str = "train", *, frames: int = 3, max_skip: int = 5,
                 max_objects: int = 3, size: tuple[int, int] = (240, 427), augment: AugmentConfig | None = None,
                 seed: int = 0, length: int | None = None, resolution: str | None = None,
                 sampling: str = "crop", layout: str | None = None, static: float = 0.0,
                 static_augment: AugmentConfig | None = None):
        self.set_static(static)
        if frames < 2:
            raise ConfigError("a training clip needs at least 2 frames")
        if max_objects < 1:
            raise ConfigError("max_objects must be >= 1")
        if sampling not in ("crop", "letterbox"):
            raise ConfigError(f"sampling must be 'crop' or 'letterbox', not {sampling!r}")
        self.root = Path(root)
        self.layout = layout or data_layout(root)
        if self.layout not in ("davis", "youtube"):
            raise ConfigError(f"layout must be 'davis' or 'youtube', not {self.layout!r}")
        ds = YouTubeVOSDataset(root, split) if self.layout == "youtube" else DavisDataset(root, split, resolution)
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
        self.sampling = sampling
        self.augment = augment
        self.static_augment = static_augment or STATIC_AUGMENT
        self.seed = seed
        self.length = length or len(self.videos)
        self.epoch = 0

    def frame_sizes(self) -> set[tuple[int, int]]:
        """The ``(H, W)`` of the videos' frames (each video's first frame, read from its header)."""
        return {image_size(v.frames[0]) for v in self.videos}

    # -------------------------------------------------------------- curriculum
    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_max_skip(self, max_skip: int) -> None:
        self.max_skip = max(1, int(max_skip))

    def set_static(self, share: float) -> None:
        """The share of static clips from now on (a two-stage schedule changes it between epochs)."""
        if not 0.0 <= share <= 1.0:
            raise ConfigError("static must lie in [0, 1]")
        self.static = float(share)

    def increase_max_skip(self, step: int = 5, cap: int = 25) -> int:
        """Raise the max skip by ``step`` (at most ``cap``); returns the new value."""
        self.max_skip = min(self.max_skip + step, cap)
        return self.max_skip

    # ------------------------------------------------------------------ items
    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        return self.clip(int(index) % len(self.videos), rng)

    def clip(self, video_index: int, rng: np.random.Generator) -> dict:
        """One clip of video ``video_index``, everything random drawn from ``rng`` (an item, see the class)."""
        video = self.videos[video_index]
        n = len(video.frames)
        # drawn only when static clips are asked for, so that other runs see the data they always saw
        static = self.static > 0 and rng.random() < self.static
        def indices(first: int | None = None) -> list[int]:
            if static:
                return [int(rng.integers(n)) if first is None else first] * self.num_frames
            return sample_frame_indices(rng, n, self.num_frames, self.max_skip, first=first)

        def candidates():
            for _attempt in range(self.random_tries):
                yield indices()
            # an object seen in few frames (it leaves the picture): try every possible first frame in turn
            for i in rng.permutation(n if static else n - self.num_frames + 1):
                yield indices(int(i))

        for idx in candidates():
            masks = {i: read_mask(video.annotations[i]) for i in dict.fromkeys(idx)}  # a static clip reads once
            labels = [masks[i] for i in idx]
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
        images = {i: read_frame(video.frames[i]) for i in dict.fromkeys(idx)}
        frames = torch.from_numpy(np.stack([images[i] for i in idx])).permute(0, 3, 1, 2)
        frames = frames.float().div_(255)
        if self.sampling == "letterbox":
            frames, lab = _letterbox_clip(frames, lab, len(chosen), self.size)
        cfg = self.augment or AugmentConfig.none()
        for _attempt in range(10):
            if static:  # each copy of the frame warped on its own: the clip's motion is those warps
                parts = [augment_clip(rng, frames[t:t + 1], lab[t:t + 1], self.static_augment, self.size)
                         for t in range(len(idx))]
                f_out, l_out = torch.cat([f for f, _ in parts]), torch.cat([m for _, m in parts])
            else:
                f_out, l_out = augment_clip(rng, frames, lab, cfg, self.size)
            if (l_out[0] > 0).any():  # the crop keeps an object in the first frame
                break
        present = torch.unique(l_out[0])
        # Objects cropped out of the first frame are dropped; slots stay 1..k.
        remap = torch.zeros(len(chosen) + 1, dtype=torch.long)
        keep = [int(k) for k in present if k > 0]
        remap[torch.tensor(keep, dtype=torch.long)] = torch.arange(1, len(keep) + 1)
        l_out = torch.where(l_out >= 0, remap[l_out.clamp(min=0)], l_out)
        return {"frames": f_out, "labels": l_out, "num_objects": len(keep), "video": video.name, "indices": idx}


def _letterbox_clip(frames: torch.Tensor, labels: torch.Tensor, objects: int,
                    size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames ``[T, 3, h, w]`` and slot labels ``[T, h, w]`` onto the ``size`` canvas, as the authors' code.

    Portrait frames are transposed first (the authors' ``Transpose``).  Masks go
    through :meth:`Letterbox.mask` as one-hot: pixels that keep no class become
    :data:`UNLABELLED`.
    """
    if frames.shape[-2] > frames.shape[-1]:
        frames, labels = frames.transpose(-2, -1), labels.transpose(-2, -1)
    box = Letterbox.fit(tuple(frames.shape[-2:]), size)
    onehot = torch.nn.functional.one_hot(labels, objects + 1).permute(0, 3, 1, 2).float()
    canvas = box.mask(onehot)
    slot = canvas.argmax(1)
    labels = torch.where(canvas.amax(1) >= 1, slot, torch.full_like(slot, UNLABELLED))
    return box.image(frames.contiguous()), labels


class MixedClipDataset(torch.utils.data.Dataset):
    """Several :class:`ClipDataset` sources mixed with sampling frequencies.

    An epoch holds ``freq * clips_per_video`` clips of every video of each
    source (the authors repeat the DAVIS list 5 times beside YouTube-VOS:
    frequencies ``5, 1``), in the order sources, then repeats, then videos.
    Item ``i`` depends on ``(seed, epoch, i)`` only; with one source of
    frequency 1 the items are exactly those of that :class:`ClipDataset`.
    Each source keeps its own max skip.

    Args:
        sources: the datasets.
        freqs: one positive frequency per source (default: 1 each).
        clips_per_video: clips of each video per repeat.
        seed: the seed.
    """

    def __init__(self, sources: Sequence[ClipDataset], freqs: Sequence[int] | None = None,
                 clips_per_video: int = 1, seed: int = 0):
        self.sources = list(sources)
        self.freqs = [1] * len(self.sources) if freqs is None else [int(f) for f in freqs]
        if not self.sources:
            raise ConfigError("no training data")
        if len(self.freqs) != len(self.sources):
            raise ConfigError(f"{len(self.freqs)} frequencies for {len(self.sources)} datasets")
        if any(f < 1 for f in self.freqs) or clips_per_video < 1:
            raise ConfigError("data frequencies and clips_per_video must be >= 1")
        self.clips_per_video = int(clips_per_video)
        self.seed = seed
        self.epoch = 0
        self.blocks = [f * len(s.videos) * self.clips_per_video for s, f in zip(self.sources, self.freqs)]
        self.offsets = np.cumsum([0] + self.blocks).tolist()

    def __len__(self) -> int:
        return self.offsets[-1]

    @property
    def max_skips(self) -> list[int]:
        return [s.max_skip for s in self.sources]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        for s in self.sources:
            s.set_epoch(epoch)

    def set_static(self, share: float) -> None:
        for s in self.sources:
            s.set_static(share)

    def set_max_skips(self, skips: Sequence[int]) -> None:
        if len(skips) != len(self.sources):
            raise ConfigError(f"{len(skips)} max skips for {len(self.sources)} datasets")
        for s, k in zip(self.sources, skips):
            s.set_max_skip(k)

    def locate(self, index: int) -> tuple[int, int]:
        """``(source, video index)`` of item ``index``."""
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(index)
        j = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return j, (index - self.offsets[j]) % len(self.sources[j].videos)

    def __getitem__(self, index: int) -> dict:
        j, v = self.locate(index)
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        return self.sources[j].clip(v, rng)


def collate_clips(items: list[dict]) -> dict:
    """Batch clips, padding object slots to the largest count in the batch.

    Returns:
        ``frames [B, T, 3, H, W]``, ``masks [B, T, K+1, H, W]`` one-hot,
        ``valid [B, K]`` bool, ``videos``, ``indices``.
    """
    K = max(1, max(it["num_objects"] for it in items))
    frames = torch.stack([it["frames"] for it in items])
    labels = torch.stack([it["labels"] for it in items])  # [B, T, H, W]
    masks = torch.nn.functional.one_hot(labels.clamp(0, K), K + 1).permute(0, 1, 4, 2, 3).float()
    if (labels < 0).any():  # letterboxed: pixels of no class
        masks = masks * (labels >= 0)[:, :, None].float()
    valid = torch.tensor([[k < it["num_objects"] for k in range(K)] for it in items])
    return {"frames": frames, "masks": masks, "valid": valid,
            "videos": [it["video"] for it in items], "indices": [it["indices"] for it in items]}


class EpochBatchSampler(torch.utils.data.Sampler):
    """Batches of one epoch, in an order fixed by ``(seed, epoch)``; resumable mid-epoch.

    With several processes, each takes its share of every global batch, so the
    processes together see exactly the global batch a single process would.
    With ``accumulate > 1`` an optimiser step takes ``accumulate`` consecutive
    batches: :meth:`batches_per_epoch` and ``start_batch`` count steps, and
    the sampler yields ``accumulate`` batches for each.

    Args:
        length: items per epoch.
        batch_size: the GLOBAL batch size.
        seed, epoch: fix the order.
        start_batch: skip the first steps (resuming).
        rank, world_size: this process's share.
        accumulate: batches per optimiser step.
    """

    def __init__(self, length: int, batch_size: int, seed: int, epoch: int, start_batch: int = 0,
                 rank: int = 0, world_size: int = 1, accumulate: int = 1):
        if batch_size % world_size:
            raise ConfigError(f"batch size {batch_size} is not divisible by {world_size} processes")
        if accumulate < 1:
            raise ConfigError("accumulate must be >= 1")
        self.length, self.batch_size, self.accumulate = length, batch_size, accumulate
        self.seed, self.epoch, self.start = seed, epoch, start_batch
        self.rank, self.world = rank, world_size

    def batches_per_epoch(self) -> int:
        """Optimiser steps per epoch (whole steps only: left-over clips wait for the next epoch's order)."""
        return self.length // (self.batch_size * self.accumulate)

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch() - self.start) * self.accumulate

    def __iter__(self) -> Iterator[list[int]]:
        order = np.random.default_rng([self.seed, self.epoch, 7]).permutation(self.length)
        local = self.batch_size // self.world
        for step in range(self.start, self.batches_per_epoch()):
            for b in range(step * self.accumulate, (step + 1) * self.accumulate):
                batch = order[b * self.batch_size:(b + 1) * self.batch_size]
                yield [int(i) for i in batch[self.rank * local:(self.rank + 1) * local]]
