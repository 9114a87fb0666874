"""Computing in the background: the frames next to the one shown, and "compute all" with an ETA and a cancel.

One :class:`Worker` (a daemon thread) serves one :class:`~erfkit.dashboard.Comparison`.
It computes one map at a time (one checkpoint, one frame, one method) while
holding the comparison's lock, and yields the lock between maps, so the page
waits for at most one map when it needs the model.  What it computes lands in
the stores' cache on disk like any map; the page shows it on its next run.

::

    worker = Worker(cmp)
    worker.prefetch([13, 14, 11], keys, view)    # the neighbours of frame 12, nearest first
    worker.compute_all(range(n), keys, view)     # every frame; worker.status().eta_s; worker.cancel()

:func:`warm_up` reads what a dataset's stored videos show first (their
segmentations, J&F and timelines), so that a row of the dataset table opens
its video without that wait.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ..explain.keys import MapKey
from ..explain.views import ViewSettings
from .comparison import Comparison

__all__ = ["Worker", "WorkStatus", "warm_up"]

#: frames a checkpoint segments in one step of the worker (it yields the lock to the page between steps)
SEGMENT_STEP = 8


@dataclass(frozen=True)
class WorkStatus:
    """What the worker is doing.

    Attributes:
        job: ``"idle"``, ``"prefetch"`` or ``"all"`` (compute every frame).
        done, total: maps finished and asked for in the current job.
        eta_s: seconds left, from the maps' mean time so far (``None``: not known yet).
        current: what is being computed now (``""``: nothing).
        error: the last failure's message (the job stops at a failure).
    """

    job: str
    done: int
    total: int
    eta_s: float | None
    current: str = ""
    error: str = ""

    @property
    def running(self) -> bool:
        return self.job != "idle"


class Worker:
    """A background thread computing maps of a comparison, one map at a time.

    Args:
        comparison: what it computes for.
    """

    #: every worker of this process (weakly: a worker no longer referenced goes)
    _all: "weakref.WeakSet[Worker]" = weakref.WeakSet()

    def __init__(self, comparison: Comparison):
        Worker._all.add(self)
        self.cmp = comparison
        self._cond = threading.Condition()
        # (frame, side, key, view); key None: segment checkpoint side up to the frame
        self._queue: list[tuple[int, int, MapKey | None, ViewSettings]] = []
        self._job = "idle"
        self._job_id = 0  # a map finishing after its job was replaced is not counted in the new one
        self._done = self._total = 0
        self._seconds = 0.0
        self._current = ""
        self._error = ""
        self._thread = threading.Thread(target=self._run, name=f"erfkit-worker-{comparison.video.name}",
                                        daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- requests
    def _units(self, frames: Iterable[int], keys: list[MapKey], view: ViewSettings):
        """The work asked for: first the rest of the video's segmentation (in steps of :data:`SEGMENT_STEP`
        frames, A and B in turn: key ``None``), then each missing map."""
        n, done = len(self.cmp.video), self.cmp.segmented(view)
        segment = [] if self.cmp.fully_segmented(view) else \
            [(min(t, n - 1), side, None, view) for t in range(done + SEGMENT_STEP - 1, n + SEGMENT_STEP - 1,
                                                                SEGMENT_STEP) for side in (0, 1)]
        return segment + [(t, side, k, view) for t in frames for side, k in self.cmp.pending(t, keys, view)]

    def prefetch(self, frames: Iterable[int], keys: list[MapKey], view: ViewSettings) -> None:
        """Compute the maps ``keys`` of ``frames`` (in that order) that are missing; a running "compute all" goes on."""
        units = self._units(frames, keys, view)
        with self._cond:
            if self._job == "all" or not units:  # nothing new: the state (and any error) stays
                return
            self._start("prefetch", units)

    def compute_all(self, frames: Iterable[int], keys: list[MapKey], view: ViewSettings) -> None:
        """Compute every missing map ``keys`` of ``frames``; :meth:`status` gives the progress and ETA."""
        with self._cond:
            self._start("all", self._units(frames, keys, view))

    def cancel(self) -> None:
        """Drop what is queued; the map being computed is finished (it is stored), nothing more."""
        with self._cond:
            self._queue.clear()

    @classmethod
    def cancel_others(cls, keep: "Worker") -> None:
        """Drop what the workers of other videos have queued ahead (the page moved on: their neighbouring
        frames would only slow it down); a "compute all" asked for goes on."""
        for w in list(cls._all):
            if w is not keep and w.status().job != "all":
                w.cancel()

    @classmethod
    def wait_all(cls, timeout: float = 60.0) -> bool:
        """Block until every worker of this process is idle (scripts and benchmarks); ``False`` on timeout."""
        return all(w.wait(timeout) for w in list(cls._all))

    @classmethod
    def cancel_all(cls, timeout: float = 60.0) -> None:
        """Cancel every worker of this process and wait for the maps being computed (a test's teardown)."""
        workers = list(cls._all)
        for w in workers:
            w.cancel()
        for w in workers:
            w.wait(timeout)

    def _start(self, job: str, units: list) -> None:
        self._queue = units
        self._job = job if units else "idle"
        self._job_id += 1
        self._done, self._total, self._seconds, self._error = 0, len(units), 0.0, ""
        self._cond.notify_all()

    def status(self) -> WorkStatus:
        with self._cond:
            left = len(self._queue) + (1 if self._current else 0)
            eta = self._seconds / self._done * left if self._done else self.cmp.eta(
                (side, key) for _, side, key, _ in self._queue if key is not None)
            return WorkStatus(self._job, self._done, self._total, eta, self._current, self._error)

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until the queue is empty (for tests and scripts); ``False`` on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._current:
                if not self._cond.wait(max(0.0, end - time.monotonic())):
                    return False
        return True

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._job = "idle" if not self._current else self._job
                    self._cond.notify_all()
                    self._cond.wait()
                frame, side, key, view = self._queue.pop(0)
                job = self._job_id
                what = "segmentation up to" if key is None else f"{key.title} of"
                self._current = f"{'AB'[side]}: {what} frame {self.cmp.video.frame_name(frame)}"
            t0 = time.perf_counter()
            try:
                if key is None:
                    self.cmp.segmentation_until(side, view, frame, background=True)
                else:
                    self.cmp.maps(side, frame, [key], view, background=True)
            except Exception as e:  # noqa: BLE001 - the page shows it; the thread lives on
                with self._cond:
                    if job == self._job_id:
                        self._error = f"{self._current}: {e}"
                        self._queue.clear()
            with self._cond:
                self._current = ""
                if job == self._job_id:
                    self._done += 1
                    self._seconds += time.perf_counter() - t0
                if not self._queue:
                    self._job = "idle"
                    self._cond.notify_all()


def warm_up(open_video: Callable[[str], Comparison], names: Sequence[str], view: ViewSettings,
            pause_s: float = 0.05, limit: int = 8) -> threading.Thread:
    """Read each video's stored segmentations and score them (J&F, the timeline), in a daemon thread.

    Nothing is computed that a store does not hold (:meth:`Comparison.stored_summary` declines a video with
    an unstored segmentation); a video that fails is skipped (the page reports it when the video is opened).

    Args:
        open_video: the comparison of a video by name (the page's cached one: the thread fills its caches).
        names: the videos, in the order the page lists them.
        pause_s: the pause between videos, so that the page's own runs go first.
        limit: at most this many videos, the first listed (an opened video keeps its segmentations in memory:
            about 50 MB for a 60-frame 480p video and two checkpoints).
    """
    def run() -> None:
        for name in names[:limit]:
            try:
                cmp = open_video(name)
                if cmp.stored_summary(view):
                    cmp.timeline(view, cmp.objects[0])
            except Exception:  # noqa: BLE001 - opening the video shows the error
                pass
            time.sleep(pause_s)

    thread = threading.Thread(target=run, name="erfkit-warm-up", daemon=True)
    thread.start()
    return thread
