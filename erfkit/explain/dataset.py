"""Explaining a whole dataset: every video's atlas, the work shared among processes, one metric table.

::

    explain_dataset(model, DavisDataset("data/synth", "val"), "atlas/cyclic", AtlasConfig())

or, from the command line, under ``torchrun --nproc-per-node N -m erfkit erf
--checkpoint C --data D --out A`` (gloo on CPU, NCCL on GPU).

Layout of the store ``A`` (one per checkpoint and settings)::

    A/store.json         what it holds: checkpoint, settings, input size, data, split, sequences
    A/<sequence>/        one atlas per video (:mod:`erfkit.explain.atlas`)
    A/metrics.csv        one row per (sequence, frame, object, method): the map metrics and the frame's J

The work units are batches of frames of one video (:func:`~erfkit.explain.atlas.frame_groups`):
unit ``i`` goes to rank ``i % world``, so no unit is done twice, and each is
computed whole, so the numbers do not depend on how many processes run or on
what an interrupted run left: a re-run of the same command completes what is
missing.  Each frame's files are written atomically and are its own, so the
processes write without locks.

On a CPU every unit is computed with single-threaded operations, and a
process computes its units on as many threads as it has cores (each with its
own copy of the model): a floating-point sum split over two threads rounds
differently than over one, and the cycle-ERF's gradient steps and the
segmentation's argmax amplify such a difference into other maps (energy off
by 13% on a trained sprite checkpoint, measured with two intra-op threads
against one).  So one process on two cores and ``torchrun --nproc-per-node 2``
give the same numbers, bit for bit.  Per-frame ``.npz`` files (not zarr) because
they already give all that: lock-free writers, one frame read without loading
a video, and the dashboard reads them as they are.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import io
import json
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.davis import DavisDataset
from ..data.letterbox import format_size, parse_size
from ..device import single_threaded_ops
from ..errors import ConfigError, DataError
from ..evaluation.measures import jaccard
from ..files import atomic_write_json, atomic_write_text
from ..model.checkpoint import checkpoint_input_size
from ..model.memory_model import MemoryModel
from .atlas import Atlas, AtlasConfig, build_atlas, frame_groups, metrics_table, model_fingerprint, settings_of
from .metrics import METRIC_COLUMNS

__all__ = ["explain_dataset", "DatasetStore", "DATASET_COLUMNS", "STORE_FILE"]

STORE_FILE = "store.json"
STORE_FORMAT = "erfkit-explanations"
DATASET_COLUMNS = ["sequence", "frame", "object", "method", *METRIC_COLUMNS, "J", "checkpoint", "target"]


@dataclass
class DatasetStore:
    """A dataset's explanations on disk (see the module's layout).

    Args:
        path: the store folder (holding ``store.json``).
    """

    path: Path

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        f = self.path / STORE_FILE
        if not f.is_file():
            raise DataError(f"not an explanation store (no {STORE_FILE})", self.path)
        try:
            self.identity = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"malformed {STORE_FILE} ({e})", f) from None
        if not isinstance(self.identity, dict) or self.identity.get("format") != STORE_FORMAT:
            raise DataError("not an erfkit explanation store", f)

    @property
    def sequences(self) -> list[str]:
        return list(self.identity["sequences"])

    def atlas(self, sequence: str) -> Atlas:
        """The atlas of one video."""
        if sequence not in self.sequences:
            raise DataError(f"sequence {sequence!r} is not in this store", self.path)
        return Atlas(self.path / sequence)

    def rows(self) -> list[dict[str, Any]]:
        """The rows of ``metrics.csv`` (numbers as floats, NaN where empty)."""
        f = self.path / "metrics.csv"
        if not f.is_file():
            raise DataError("the store has no metrics.csv (is the run finished?)", self.path)
        with open(f, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows:
            for c in (*METRIC_COLUMNS, "J"):
                r[c] = float(r[c]) if r.get(c) not in (None, "") else float("nan")
            r["object"] = int(r["object"])
        return rows


def _identity(model: MemoryModel, dataset: DavisDataset, names: list[str], cfg: AtlasConfig, size: Any) -> dict[str, Any]:
    info = model.checkpoint
    policy = checkpoint_input_size(model) if size == "checkpoint" else parse_size(size)
    identity = {"format": STORE_FORMAT, "version": 1,
                "checkpoint": {"sha256": model_fingerprint(model),
                               "label": info.label if info is not None else model.config.name,
                               "path": info.path if info is not None else None},
                "config": cfg.to_dict(), "size": format_size(policy), "data": str(dataset.root.resolve()),
                "split": dataset.split, "sequences": names}
    return json.loads(json.dumps(identity))  # as stored (tuples become lists), for comparisons


def _difference(old: dict, new: dict) -> str | None:
    """What differs between two identities, in a few words (``None``: the same)."""
    for key in ("checkpoint", "config", "size", "split", "sequences", "data"):
        a, b = old.get(key), new.get(key)
        if key == "checkpoint":
            a, b = (a or {}).get("sha256"), (b or {}).get("sha256")
        if key == "config":
            a, b = settings_of(a), settings_of(b)
        if a != b:
            if key == "config":
                diff = sorted(k for k in set(a or {}) | set(b or {}) if (a or {}).get(k) != (b or {}).get(k))
                return f"settings differ ({', '.join(diff)})"
            if key == "checkpoint":
                return "it was written by another checkpoint"
            return f"{key} differs ({a!r} there, {b!r} here)"
    return None


def _open_store(out: Path, identity: dict, overwrite: bool) -> None:
    """Check (or create) ``out/store.json``; refuse a store of another identity unless ``overwrite``."""
    f = out / STORE_FILE
    if f.is_file():
        old = DatasetStore(out).identity
        why = _difference(old, identity)
        if why is not None:
            if not overwrite:
                raise DataError(f"the store holds other explanations: {why}", out, option="overwrite")
            for name in old.get("sequences", []):
                shutil.rmtree(out / name, ignore_errors=True)
    atomic_write_json(f, identity)


def _frame_j(atlas: Atlas, video, index: int) -> dict[int, float]:
    """Each object's J at frame ``index`` (the stored prediction against the ground truth; none without it)."""
    if index not in video.annotation_paths:
        return {}
    gt = video.read_annotation(index)
    gt = np.where(gt == 255, 0, gt)
    pred = atlas.load(index, ["pred"]).get("pred")
    if pred is None:
        return {}
    return {o: float(jaccard(pred == o, gt == o)) for o in atlas.objects}


def write_table(out: Path, dataset: DavisDataset, names: list[str]) -> Path:
    """``out/metrics.csv`` and each video's ``metrics.csv``, from every finished frame."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, DATASET_COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for name in names:
        atlas = Atlas(out / name)
        video = dataset[name]
        atlas_rows = atlas.metrics()
        atomic_write_text(out / name / "metrics.csv", metrics_table(atlas_rows))
        js: dict[str, dict[int, float]] = {}
        for r in atlas_rows:
            if r["frame"] not in js:
                js[r["frame"]] = _frame_j(atlas, video, atlas.frames.index(r["frame"]))
            j = js[r["frame"]].get(int(r["object"]), float("nan"))
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in {**r, "J": j}.items()})
    path = out / "metrics.csv"
    atomic_write_text(path, buf.getvalue())
    return path


def explain_dataset(model: MemoryModel, dataset: DavisDataset, out: str | os.PathLike, config: AtlasConfig | None = None, *,
                    sequences: Sequence[str] | None = None, size: Any = "checkpoint", rank: int = 0, world: int = 1,
                    barrier: Callable[[], None] | None = None, agree: Callable[[int], int] | None = None,
                    progress: bool = True, overwrite: bool = False, workers: int | None = None) -> DatasetStore:
    """Explain every video of ``dataset`` (or ``sequences``) into the store ``out``; this process's share.

    Args:
        model: the network (any :class:`~erfkit.model.memory_model.MemoryModel`).
        dataset: the split.
        out: the store folder.
        config: what to compute (the atlas settings).
        sequences: only these videos (default: every video of the split).
        size: the network's input size (``"checkpoint"``, ``"HxW"``, ``"native"``).
        rank, world: this process's rank and the number of processes; unit ``i`` is rank ``i % world``'s.
        barrier: waits for every process (e.g. ``torch.distributed.barrier``); needed when ``world > 1``.
        agree: the smallest of a number over every process (for ``batch_size="auto"`` under torchrun: the
            ranks must cut the videos into the same batches).
        progress: a progress bar (rank 0), counting the frames done in the whole store.
        overwrite: replace a store of other settings, checkpoint or data.
        workers: on a CPU, the threads this process computes its units on, each operation of a unit on one
            thread (default: the process's intra-op thread count, which torchrun sets to its share of the
            cores).  Neither this nor ``world`` changes a number.  On a GPU: one.

    Returns:
        the :class:`DatasetStore` (its ``metrics.csv`` written by rank 0 once every rank is done).

    Raises:
        DataError: a sequence the split lacks, a store of another identity.
    """
    cfg = config or AtlasConfig()
    if world > 1 and barrier is None:
        raise ConfigError("several processes need a barrier")
    names = list(dataset.names if sequences is None else sequences)
    missing = [s for s in names if s not in dataset.names]
    if missing:
        raise DataError(f"not in split {dataset.split!r}: {', '.join(missing)}", dataset.root)
    if not names:
        raise DataError(f"split {dataset.split!r} holds no video", dataset.root)
    out = Path(out)
    identity = _identity(model, dataset, names, cfg, size)
    if rank == 0:
        _open_store(out, identity, overwrite)
    if barrier is not None:
        barrier()
    if rank != 0 and _difference(DatasetStore(out).identity, identity) is not None:
        raise DataError("the store was opened with other settings by rank 0", out)
    cpu = model.device.type == "cpu"
    n_workers = max(1, workers or torch.get_num_threads()) if cpu else 1
    if cfg.batch_size == "auto":  # one size for every video and rank (the units must agree)
        from .batching import memory_budget, plan_batch

        if world > 1 and agree is None:
            raise ConfigError("batch size 'auto' with several processes needs agree= (they must cut the videos "
                              "into the same batches)", option="batch_size")

        def heaviest(n: str) -> tuple[int, int]:  # a frame costs most with the most objects and pixels
            h, w = dataset[n].read_frame(cfg.target).shape[:2]
            return len(dataset[n].object_frames), h * w

        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # the batches in flight share the free memory
        size_n = plan_batch(model, dataset[max(names, key=heaviest)], cfg.target, cfg.cycle_config(1),
                            size=checkpoint_input_size(model) if size == "checkpoint" else parse_size(size),
                            limit=max(len(dataset[n]) for n in names),
                            budget=memory_budget(model.device, local * n_workers)).batch_size
        cfg = dataclasses.replace(cfg, batch_size=agree(size_n) if agree is not None else size_n)
    units = [(name, group) for name in names for group in frame_groups(range(len(dataset[name])), cfg.batch_size)]
    jobs = units[rank::world]
    total = sum(len(g) for _, g in units)
    lock = threading.Lock()
    with tqdm(total=total, desc="explain", unit="frame", disable=not (progress and rank == 0)) as bar:
        def count(_: int) -> None:  # frames done in the whole store, by every process
            if rank == 0:
                with lock:
                    bar.n = sum(len(Atlas(out / n).done) for n in names if (out / n / "index.json").is_file())
                    bar.refresh()

        def compute(worker_model: MemoryModel, share: list[tuple[str, list[int]]]) -> None:
            by_video: dict[str, list[list[int]]] = {}
            for name, group in share:
                by_video.setdefault(name, []).append(group)
            for name, groups in by_video.items():
                build_atlas(worker_model, dataset[name], out / name, cfg, groups=groups, progress=False,
                            size=size, on_frame=count, finish=False)

        count(0)
        n = max(1, min(n_workers, len(jobs)))
        with single_threaded_ops() if cpu else contextlib.nullcontext():
            if n == 1:
                compute(model, jobs)
            else:
                models = [model] + [copy.deepcopy(model) for _ in range(n - 1)]  # hooks, frozen flags: per thread
                with ThreadPoolExecutor(n, thread_name_prefix="erfkit-unit") as pool:
                    for done in [pool.submit(compute, models[k], jobs[k::n]) for k in range(n)]:
                        done.result()
    if barrier is not None:
        barrier()
    if rank == 0:
        incomplete = [n for n in names if len(Atlas(out / n).done) != len(dataset[n])]
        if incomplete:
            raise DataError(f"{len(incomplete)} video(s) are incomplete after the run (first: {incomplete[0]}); "
                            "run the same command again", out)
        write_table(out, dataset, names)
    if barrier is not None:
        barrier()
    return DatasetStore(out)
