"""Many variants of one model trained at once, as one batched computation: the engine's entry points.

:func:`train_many` takes models that differ in their weights and buffers (seeds; skip on/off
kept in a buffer; ...) and per-variant learning rates and warm-ups; models of several structures
make one stack each. It stacks their weights along a leading ``variant`` dimension so that
every matmul becomes one batched matmul, and records what :func:`~coursekit.training.train_model` records.
:func:`train_depth_sweep` trains models of several depths in one run, and
:func:`train_side_by_side` several runs (models of different structures) at once.

Each job's variants are dealt out to threads (:mod:`.threads`), each thread trains its share
(:mod:`.step`), and the loop pauses Python's cyclic garbage collector and keeps freed memory
for the next step. For models whose ``forward_stacked`` computes each variant alone, as the
course's do, another ``threads`` trains every variant the same to the last bit
(tests/test_engine.py); through ``vmap``, or in the logged gradient norms, another deal can move
the last bits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from torch import nn

from ..data import Task
from ..training import TrainConfig, TrainResult
from ..training.loop import tqdm_bar
from . import threads as sharing
from .fused import keep_freed_memory
from .jobs import Job, Run, side_by_side_jobs, structure_jobs, sweep_job
from .step import Share, train_share


def _gather(jobs: list[Job], plan: list[list[sharing.Piece]], done: list[list[list[TrainResult]]]):
    """Each job's results in its caller's order, from each thread's results per piece."""
    results: list[list[TrainResult]] = [[None] * len(job.models) for job in jobs]  # type: ignore[list-item]
    for pieces, piece_results in zip(plan, done, strict=True):
        for (k, first, _), runs in zip(pieces, piece_results, strict=True):
            for v, run_result in enumerate(runs, start=first):
                results[k][jobs[k].numbers[v]] = run_result
    return results


def run_jobs(jobs: list[Job], task: Task, progress_bar: bool, threads: int | None) -> list[list[TrainResult]]:
    """Train every job, its variants dealt out to ``threads`` threads side by side, each on one
    PyTorch thread (:mod:`.threads`); each job's results in its caller's order. The first
    thread is this one, and drives the progress bar. An error or an interrupt on any thread
    stops the others at their next step."""
    threads = sharing.resolve(threads)
    for job in jobs:
        for m in job.models:
            m.train()
    plan = sharing.plan(jobs, threads)
    stop = threading.Event()
    keep_freed_memory()  # every step allocates the same tensors: no page faults for them
    variants = sum(len(job.models) for job in jobs)
    steps = sum(jobs[k].base.steps for k, _, _ in plan[0])
    bar = tqdm_bar(steps, progress_bar, f"training {variants} variants")

    def thread(pieces: list[sharing.Piece], bar) -> Callable[[], list[list[TrainResult]]]:
        return lambda: [
            train_share(Share.of(jobs[k], first, end), task, bar, stop) for k, first, end in pieces
        ]

    calls = [thread(pieces, bar if t == 0 else None) for t, pieces in enumerate(plan)]
    try:
        with sharing.cyclic_gc_paused():
            done = sharing.side_by_side(calls, stop)
    finally:
        bar.close()
    return _gather(jobs, plan, done)


def train_many(
    models: Sequence[nn.Module],
    task: Task,
    config: TrainConfig | Sequence[TrainConfig],
    progress_bar: bool = True,
    threads: int | None = None,
) -> list[TrainResult]:
    """Train every model on ``task`` at once and return one :class:`TrainResult` per model.

    Models of one :func:`~.contract.structure` (they may differ in their weights and buffers)
    stack into one computation; models of several structures (a plain and a residual stack, say)
    form one stack per structure, and the stacks train side by side as in
    :func:`train_side_by_side`, each model's numbers the ones its stack gets alone.
    ``config`` is one config for all or one per model (they may differ in ``lr``,
    ``warmup_steps`` and ``schedule``). The trained weights are copied back into ``models``.
    ``threads``: how many threads share the variants (default :data:`.threads.THREADS`;
    :mod:`.threads`): the speed, not the training of the course's models. Buffers are read, never
    updated, so use norms without running statistics (LayerNorm, or BatchNorm with
    ``track_running_stats=False``). ``forward_stacked``: :mod:`.contract`.
    """
    jobs, positions = structure_jobs(models, config)
    results: list[TrainResult] = [None] * sum(map(len, positions))  # type: ignore[list-item]
    for where, runs in zip(positions, run_jobs(jobs, task, progress_bar, threads), strict=True):
        for i, run_result in zip(where, runs, strict=True):
            results[i] = run_result
    return results


def train_depth_sweep(
    models: Sequence[nn.Module],
    task: Task,
    config: TrainConfig | Sequence[TrainConfig],
    progress_bar: bool = True,
    threads: int | None = None,
) -> list[TrainResult]:
    """:func:`train_many` for models that may also differ in depth: one class, one layout, but
    each its own number of blocks (the ``blocks`` ModuleList). Every depth of a sweep trains in
    one batched computation, and each model's numbers are the ones it would get alone.

    The variants run deepest first; block ``i`` runs only for the variants deeper than ``i``
    (``active[i]`` of them) and passes the others' input through, so no matmul is wasted on
    padding. The class's ``forward_stacked(p, x, active=None)`` must take ``active``
    (:class:`~.contract.DepthSweepForward`). Results
    come back in the order of ``models``, each model's ``grad_norms`` with one entry per block of
    its own. ``threads``: as in :func:`train_many`.
    """
    return run_jobs([sweep_job(models, config)], task, progress_bar, threads)[0]


def train_side_by_side(
    runs: Sequence[Run],
    task: Task,
    progress_bar: bool = True,
    threads: int | None = None,
) -> list[list[TrainResult]]:
    """Several :func:`train_many` runs, each ``(models, config)``, trained at once on ``task``:
    each run's models stack into one computation as :func:`train_many` stacks them (or, when their
    depths differ, as :func:`train_depth_sweep` does), and the runs share the threads, so two runs
    of different structures (post-norm and pre-norm, say) keep both cores busy with no run cut
    into small pieces. Returns each run's results, in the order of its models; the numbers are
    the ones each run gets alone.
    """
    return run_jobs(side_by_side_jobs(runs), task, progress_bar, threads)
