"""Two cores, the same numbers on every machine: how the engine shares its work out to threads.

The variants are independent, so they are dealt out to ``threads`` (default :data:`THREADS`)
Python threads, each training its share as one stacked computation on one PyTorch thread;
torch releases the GIL inside every op, so the shares run side by side. The deal
(:func:`plan`) depends on the models and ``threads`` only, never on the machine's cores, and
one intra-op thread fixes the order of every sum (more would change it, and training
amplifies the change), so a seeded run gives the same numbers whatever the core count (another
kind of CPU may still round differently).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import torch

from ..seeding import torch_threads
from ..validate import require_positive_int

T = TypeVar("T")
R = TypeVar("R")

# threads that share the variants when a call does not say (read at each call, through
# :func:`resolve`): the course's 2-core laptop
THREADS = 2

Piece = tuple[int, int, int]  # (job, first, end): a range of one job's stacked variants


class Weighed(Protocol):
    """Anything with ``work``: each of its variants' cost, in parameters."""

    @property
    def work(self) -> list[int]: ...


def resolve(threads: int | None) -> int:
    """``threads``, or :data:`THREADS` when it is None, checked."""
    return require_positive_int("threads", THREADS if threads is None else threads)


def plan(jobs: Sequence[Weighed], threads: int) -> list[list[Piece]]:
    """Pieces ``(job, first, end)`` (a range of a job's stacked variants) for each thread, every
    thread about an equal share of the work. The variants are dealt out in order, job after job
    (McNaughton's wrap-around rule), so each thread gets long runs of one job, which stack into
    few, big ops, and at most ``threads - 1`` jobs are cut in two."""
    total = max(1, sum(sum(job.work) for job in jobs))
    plan: list[list[Piece]] = [[] for _ in range(threads)]
    done = 0
    for k, job in enumerate(jobs):
        for v, w in enumerate(job.work):
            pieces = plan[min(threads - 1, int((done + w / 2) * threads / total))]
            done += w
            if pieces and pieces[-1][0] == k and pieces[-1][2] == v:
                pieces[-1] = (k, pieces[-1][1], v + 1)
            else:
                pieces.append((k, v, v + 1))
    return [pieces for pieces in plan if pieces]


def side_by_side(calls: list[Callable[[], R]], stop: threading.Event) -> list[R]:
    """Run ``calls`` at once, the first on this thread and each on one PyTorch thread; their
    results in order. An error or an interrupt on any thread sets ``stop`` (for calls that watch
    it) and is raised here once the others have returned."""

    def run(call: Callable[[], R]) -> R:
        try:
            # OpenMP's thread count is per calling thread: a new thread starts at the core count,
            # and two such threads' matmuls would fight over the cores (measured: 2x slower)
            torch.set_num_threads(1)
            return call()
        except BaseException:
            stop.set()
            raise

    with torch_threads(1), ThreadPoolExecutor(max(1, len(calls) - 1)) as pool:
        others = [pool.submit(run, call) for call in calls[1:]]
        try:
            return [run(calls[0])] + [future.result() for future in others]
        except BaseException:  # an interrupt while waiting for the others too
            stop.set()
            raise


def map_side_by_side(function: Callable[[T], R], items: Sequence[T], threads: int | None = None) -> list[R]:
    """``[function(item) for item in items]``, the items dealt out in order to ``threads``
    threads (default :data:`THREADS`) that run side by side on one PyTorch thread each: the
    same results as the plain loop on one thread, sooner. For work after training, such as
    each trained model's held-out loss."""
    threads = resolve(threads)
    items = list(items)
    if not items:
        return []
    share = -(-len(items) // threads)  # ceil: at most `threads` chunks
    chunks = [items[i : i + share] for i in range(0, len(items), share)]

    def thread(chunk: list[T]) -> Callable[[], list[R]]:
        return lambda: [function(item) for item in chunk]

    calls = [thread(chunk) for chunk in chunks]
    return [result for chunk in side_by_side(calls, threading.Event()) for result in chunk]


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: a step creates thousands of small objects, and
    the collections they trigger walk every object torch keeps (measured: ~5 % of a step).
    Reference counting still frees everything a step drops; cycles wait until the end."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
