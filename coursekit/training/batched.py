"""Many variants of one model trained at once, as one batched computation.

:func:`train_many` takes models of one structure that differ in their weights and buffers
(seeds; skip on/off kept in a buffer; ...) and per-variant learning rates and warm-ups. It
stacks their weights along a leading ``variant`` dimension (``torch.func.stack_module_state``)
so that every matmul becomes one batched matmul, and records what :func:`train_model` records.

The ``forward_stacked`` contract. A model class may define
``forward_stacked(params_and_buffers, x) -> logits`` where ``params_and_buffers`` maps every
parameter and buffer name to its stacked tensor ``(variant, ...)``, ``x`` is one minibatch
shared by all variants, and the logits are ``(variant, batch, ..., n_classes)``: what
``forward`` gives each variant, computed with explicit batched ops (``torch.bmm``). Without it,
``torch.func.vmap`` over ``forward`` does the same, more slowly. Before training, each
variant's own ``forward`` is compared with the shared computation, so a setting that no
tensor shows (a Python attribute) cannot silently train every variant as the first.

A variant whose loss or gradient turns NaN/Inf stops (its weights freeze), its step is
recorded in ``diverged_at``, and the other variants carry on.

Where the time goes (``coursekit bench``): the digits nets' ``forward_stacked`` run their
blocks as one autograd node with a hand-written backward (:mod:`.fused`), the optimizer works on
one flat buffer, the loss takes the classes in dim 1 (a ~10x faster cross-entropy kernel), and
the loop pauses Python's cyclic garbage collector and keeps freed memory for the next step.
:func:`train_depth_sweep` trains models of several depths in one run, and
:func:`train_side_by_side` several runs (models of different structures) at once.

Two cores, the same numbers on every machine. The variants are independent, so they are dealt
out to ``threads`` (default :data:`THREADS`) Python threads, each training its share as one
stacked computation on one PyTorch thread; torch releases the GIL inside every op, so the
shares run side by side. The deal depends on the models and ``threads`` only, never on the
machine's cores, and one intra-op thread fixes the order of every sum (more would change it,
and training amplifies the change), so a seeded run gives the same numbers whatever the core
count (another kind of CPU may still round differently). For
models whose ``forward_stacked`` computes each variant alone, as the course's do, even another
``threads`` trains every variant the same to the last bit (tests/test_train.py); through
``vmap``, or in the logged gradient norms, another deal can move the last bits.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import inspect
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional as F

from ..data import Task, batches
from ..measures import block_prefixes, cross_entropy, find_blocks, grad_norms_by_block
from ..seeding import torch_threads
from ..validate import require_positive_int
from .fused import keep_freed_memory
from .loop import TrainConfig, TrainResult, lr_factor, tqdm_bar

T = TypeVar("T")
R = TypeVar("R")

# threads that share the variants when a call does not say (read at each call): the course's
# 2-core laptop (module docstring)
THREADS = 2


def structure(model: nn.Module) -> tuple:
    """What variants trained together must share: the class, every submodule's name, class and
    settings as its ``extra_repr`` shows them, and every parameter's and buffer's name and shape.
    (Settings held in plain attributes no repr shows are caught later, by comparing each variant's
    own forward with the shared computation.)"""
    return (
        type(model),
        tuple((name, type(m), m.extra_repr()) for name, m in model.named_modules()),
        tuple((n, p.shape) for n, p in model.named_parameters()),
        tuple((n, b.shape) for n, b in model.named_buffers()),
    )


def _require_one_forward(
    models: list[nn.Module], shared_logits: torch.Tensor, x: torch.Tensor, numbers: list[int]
) -> None:
    """Refuse variants whose own forward is not what the shared computation gives them
    (``numbers``: the models' positions in the caller's list, for the message).

    A setting the forward reads but no tensor shows (say ``self.residual = False`` in a
    learner's class) would otherwise silently train every variant as ``models[0]``.
    """
    with torch.no_grad():
        for v, model in enumerate(models):
            # on copies of the buffers, so BatchNorm running statistics stay as they were (cheaper
            # than copying the whole model)
            own = functional_call(model, {n: b.clone() for n, b in model.named_buffers()}, (x,))
            if not torch.allclose(own, shared_logits[v], rtol=1e-3, atol=1e-4):
                raise ValueError(
                    f"models[{numbers[v]}] computes something else than models[0] would with its weights: "
                    "they differ in a setting no tensor shows (such as residual=True/False). "
                    "Keep such a switch in a buffer, or train each model with train_model"
                )


Region = tuple[slice, slice]  # (variants, columns) of the flat ``(variant, total)`` buffer


class _StackedOptimizer:
    """SGD (momentum) or Adam on all stacked weights as one flat ``(variant, total)`` buffer, as
    ``torch.optim`` computes them, with one learning rate per variant and a ``live`` mask that
    freezes stopped variants. One buffer makes a step a handful of ops, not several per tensor.

    ``regions`` (default: the whole buffer) are the parts that hold weights a variant uses; a
    depth sweep leaves the rest, the blocks a shallower variant lacks, untouched: its gradient
    is zero and its update would be too, but those zeros cost a full pass each, and on some CPUs
    ``sqrt(0)`` runs 5x slower than ``sqrt`` of a normal number (measured on an AMD EPYC, one
    thread: 2.4 ms against 0.5 ms for 1.4M floats)."""

    def __init__(self, flat: torch.Tensor, config: TrainConfig, regions: list[Region] | None = None) -> None:
        self.config = config
        self.t = 0
        self.flat = flat  # (variant, total)
        self.regions = [(slice(None), slice(None))] if regions is None else regions
        self.m, self.v = torch.zeros_like(flat), torch.zeros_like(flat)
        # scratch reused every step: a fresh buffer this size costs a page fault per 4 KiB
        self.update = torch.empty_like(flat)
        self.denom = torch.empty_like(flat) if config.optimizer == "adam" else None

    @torch.no_grad()
    def step(self, grad: torch.Tensor, lr: torch.Tensor, live: torch.Tensor, all_live: bool) -> None:
        """One update from ``grad`` ``(variant, total)``; ``lr`` and ``live`` are ``(variant,)``."""
        self.t += 1
        scale = (lr * live).unsqueeze(1)  # (variant, 1)
        g = grad if all_live else torch.nan_to_num(grad) * live.unsqueeze(1)
        for rows, columns in self.regions:
            self._step((rows, columns), g[rows, columns], scale[rows])

    def _step(self, part: Region, g: torch.Tensor, scale: torch.Tensor) -> None:
        """The update of one region ``part``: ``g`` its gradient, ``scale`` its variants' rates."""
        c, m, v, update = self.config, self.m[part], self.v[part], self.update[part]
        if c.optimizer == "sgd":
            if c.momentum and self.t > 1:
                g = m.mul_(c.momentum).add_(g)
            elif c.momentum:
                g = m.copy_(g)
            torch.mul(scale, g, out=update)
        else:
            b1, b2 = c.betas
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = torch.sqrt(v, out=self.denom[part]).div_(math.sqrt(1 - b2**self.t)).add_(c.eps)
            torch.mul(scale / (1 - b1**self.t), m, out=update).div_(denom)
        self.flat[part].sub_(update)


def _used_regions(names: list[str], sizes: list[int], prefixes: list[str], blocks: list[int]) -> list[Region]:
    """The parts of a depth sweep's flat buffer that hold weights their variant uses: for each
    run of variants of one depth (deepest first), the columns of every parameter outside the
    blocks it lacks, merged into ranges. ``names`` and ``sizes``: the columns' parameters in order;
    ``blocks[v]``: variant ``v``'s depth, ``prefixes``: one per block of the deepest."""
    regions: list[Region] = []
    first = 0
    for v in range(1, len(blocks) + 1):
        if v < len(blocks) and blocks[v] == blocks[first]:
            continue
        beyond = tuple(prefixes[blocks[first] :])
        column = 0
        for name, size in zip(names, sizes, strict=True):
            used = not (beyond and name.startswith(beyond))
            last = regions[-1] if regions else None
            if used and last is not None and last[0].start == first and last[1].stop == column:
                regions[-1] = (last[0], slice(last[1].start, column + size))
            elif used:
                regions.append((slice(first, v), slice(column, column + size)))
            column += size
        first = v
    return regions


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
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


def _check_configs(configs: Sequence[TrainConfig]) -> TrainConfig:
    base = configs[0]
    for c in configs:
        if not isinstance(c, TrainConfig):
            raise TypeError(f"configs must be TrainConfig objects, got {type(c).__name__}")
        shared = (c.steps, c.batch_size, c.optimizer, c.momentum, c.betas, c.eps, c.log_every, c.seed)
        if shared != (
            base.steps,
            base.batch_size,
            base.optimizer,
            base.momentum,
            base.betas,
            base.eps,
            base.log_every,
            base.seed,
        ):
            raise ValueError(
                "variants trained together may differ only in lr, warmup_steps and schedule; "
                f"got {c} and {base}"
            )
    return base


def _stack_weights(
    models: list[nn.Module], template: nn.Module | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict]:
    """``(flat, params, buffers)``: every model's weights in one ``(variant, total)`` buffer, the
    stacked parameters as leaf views into it (so one optimizer step updates them all), and the
    stacked buffers. Names are ``template``'s (default ``models[0]``); a model without one of
    them (a shallower net in a depth sweep) gets the template's values there, which it never uses.
    """
    template = models[0] if template is None else template
    shapes = {n: p.shape for n, p in template.named_parameters()}
    rows = []
    for m in models:
        own = dict(m.named_parameters())
        rows.append(torch.cat([own.get(n, t).detach().reshape(-1) for n, t in template.named_parameters()]))
    flat = torch.stack(rows)  # (variant, total)
    sizes = [math.prod(shape) for shape in shapes.values()]
    params = {
        name: chunk.view(len(models), *shape).requires_grad_(True)
        for (name, shape), chunk in zip(shapes.items(), flat.split(sizes, dim=1), strict=True)
    }
    buffers = {
        name: torch.stack([dict(m.named_buffers()).get(name, t).detach() for m in models])
        for name, t in template.named_buffers()
    }
    return flat, params, buffers


def _stacked_loss(like: nn.Module, active: tuple[int, ...] | None = None):
    """``loss(params, buffers, x, y) -> (per-variant loss (variant,), logits (variant, batch, ...))``:
    ``like``'s computation for every variant: its own ``forward_stacked`` when it has one, else
    ``vmap`` over its ``forward``. ``active`` (a depth sweep, ``like`` the deepest) is passed on
    to ``forward_stacked``."""
    if active is not None or hasattr(like, "forward_stacked"):
        extra = {} if active is None else {"active": active}

        def loss(params, buffers, x, y):
            logits = like.forward_stacked(params | buffers, x, **extra)  # (variant, batch, ..., classes)
            # classes in dim 1, as cross_entropy takes (N, C, d1, ...): its kernel for that layout
            # is ~10x faster than the one for a short last dimension of classes
            targets = y.expand(logits.shape[0], *y.shape)
            losses = F.cross_entropy(logits.movedim(-1, 1), targets, reduction="none")
            return losses.flatten(1).mean(1), logits

        return loss
    template = copy.deepcopy(like).to("meta")

    def one(params, buffers, x, y):
        logits = functional_call(template, (params, buffers), (x,))
        return cross_entropy(logits, y), logits

    return vmap(one, in_dims=(0, 0, None, None))


@dataclass
class _Job:
    """One stacked computation: models of one structure, or (a depth sweep) of one layout and
    several depths, stacked deepest first. ``numbers[v]``: where stacked model ``v`` sits in the
    caller's list."""

    models: list[nn.Module]
    numbers: list[int]
    configs: list[TrainConfig]
    base: TrainConfig
    depths: list[int] | None = None  # a depth sweep: each model's number of blocks

    @property
    def work(self) -> list[int]:
        """Each variant's parameter count: what the threads' shares are measured in."""
        return [sum(p.numel() for p in m.parameters()) for m in self.models]


def _configs_for(models: list[nn.Module], config: TrainConfig | Sequence[TrainConfig]) -> list[TrainConfig]:
    configs = [config] * len(models) if isinstance(config, TrainConfig) else list(config)
    if len(configs) != len(models):
        raise ValueError(f"got {len(configs)} configs for {len(models)} models")
    return configs


def _require_models(models: Sequence[nn.Module]) -> list[nn.Module]:
    models = list(models)
    if not models:
        raise ValueError("models must contain at least one model")
    for m in models:
        if not isinstance(m, nn.Module):
            raise TypeError(f"models must be torch.nn.Module objects, got {type(m).__name__}")
    return models


def _stack_job(models: Sequence[nn.Module], config: TrainConfig | Sequence[TrainConfig]) -> _Job:
    """A :func:`train_many` job: the models must share one :func:`structure`."""
    models = _require_models(models)
    if len({structure(m) for m in models}) > 1:
        raise ValueError("all models passed to train_many must share one structure (class, modules, shapes)")
    configs = _configs_for(models, config)
    return _Job(models, list(range(len(models))), configs, _check_configs(configs))


def _sweep_job(models: Sequence[nn.Module], config: TrainConfig | Sequence[TrainConfig]) -> _Job:
    """A :func:`train_depth_sweep` job: one class and layout, several depths, deepest first."""
    models = _require_models(models)
    configs = _configs_for(models, config)
    base = _check_configs(configs)
    depths = [len(find_blocks(m)[1]) for m in models]
    order = sorted(range(len(models)), key=lambda v: -depths[v])  # deepest first, else as given
    ordered = [models[v] for v in order]
    deepest = ordered[0]
    if "active" not in inspect.signature(getattr(deepest, "forward_stacked", lambda p, x: None)).parameters:
        raise TypeError(f"{type(deepest).__name__}.forward_stacked must take active= to train a depth sweep")
    prefixes = block_prefixes(deepest)
    full = dict(deepest.named_parameters()) | dict(deepest.named_buffers())
    for m, depth in zip(ordered, (depths[v] for v in order), strict=True):
        own = dict(m.named_parameters()) | dict(m.named_buffers())
        beyond = tuple(prefixes[depth:])
        wrong = [n for n, t in own.items() if n not in full or full[n].shape != t.shape]
        missing = [n for n in full if n not in own and not n.startswith(beyond)]
        if type(m) is not type(deepest) or wrong or missing:
            raise ValueError(
                "models in a depth sweep must be one class and layout, differing only in their number "
                f"of blocks; {type(m).__name__} of depth {depth} differs in {(wrong + missing)[:3]}"
            )
    return _Job(ordered, order, [configs[v] for v in order], base, [depths[v] for v in order])


def _depths_differ(models: list[nn.Module]) -> bool:
    """Whether the models have ``blocks`` lists of more than one length (a depth sweep)."""
    try:
        return len({len(find_blocks(m)[1]) for m in models}) > 1
    except ValueError:  # no blocks
        return False


def _plan(jobs: list[_Job], threads: int) -> list[list[tuple[int, int, int]]]:
    """Pieces ``(job, first, end)`` (a range of a job's stacked variants) for each thread, every
    thread about an equal share of the work. The variants are dealt out in order, job after job
    (McNaughton's wrap-around rule), so each thread gets long runs of one job, which stack into
    few, big ops, and at most ``threads - 1`` jobs are cut in two."""
    total = max(1, sum(sum(job.work) for job in jobs))
    plan: list[list[tuple[int, int, int]]] = [[] for _ in range(threads)]
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


def _side_by_side(calls: list[Callable[[], R]], stop: threading.Event) -> list[R]:
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
    threads = require_positive_int("threads", THREADS if threads is None else threads)
    items = list(items)
    if not items:
        return []
    share = -(-len(items) // threads)  # ceil: at most `threads` chunks
    chunks = [items[i : i + share] for i in range(0, len(items), share)]

    def thread(chunk: list[T]) -> Callable[[], list[R]]:
        return lambda: [function(item) for item in chunk]

    calls = [thread(chunk) for chunk in chunks]
    return [result for chunk in _side_by_side(calls, threading.Event()) for result in chunk]


def _run_jobs(
    jobs: list[_Job], task: Task, progress_bar: bool, threads: int | None
) -> list[list[TrainResult]]:
    """Train every job, its variants dealt out to ``threads`` threads side by side, each on one
    PyTorch thread (module docstring); each job's results in its caller's order. The first
    thread is this one, and drives the progress bar. An error or an interrupt on any thread
    stops the others at their next step."""
    threads = require_positive_int("threads", THREADS if threads is None else threads)
    for job in jobs:
        for m in job.models:
            m.train()
    plan = _plan(jobs, threads)
    stop = threading.Event()

    def piece(k: int, first: int, end: int, bar) -> list[TrainResult]:
        job = jobs[k]
        group, configs = job.models[first:end], job.configs[first:end]
        numbers = job.numbers[first:end]
        if job.depths is None:
            # every piece computes what the job's first model computes, so a variant that differs
            # from it in a setting no tensor shows is refused whichever piece it lands in
            forward, template, blocks = _stacked_loss(job.models[0]), None, None
        else:  # a piece keeps the deepest-first order: its first model is its deepest
            blocks = job.depths[first:end]
            active = tuple(sum(d > i for d in blocks) for i in range(blocks[0]))
            forward, template = _stacked_loss(group[0], active), group[0]
        flat, params, buffers = _stack_weights(group, template)
        args = (task, configs, job.base, flat, params, buffers, forward, bar, stop, blocks)
        return _train(group, numbers, *args)

    keep_freed_memory()  # every step allocates the same tensors: no page faults for them
    variants = sum(len(job.models) for job in jobs)
    steps = sum(jobs[k].base.steps for k, _, _ in plan[0])
    bar = tqdm_bar(steps, progress_bar, f"training {variants} variants")

    def thread(pieces: list[tuple[int, int, int]], bar) -> Callable[[], list[list[TrainResult]]]:
        return lambda: [piece(*p, bar) for p in pieces]

    calls = [thread(pieces, bar if t == 0 else None) for t, pieces in enumerate(plan)]
    try:
        with _cyclic_gc_paused():
            done = _side_by_side(calls, stop)
    finally:
        bar.close()
    results: list[list[TrainResult]] = [[None] * len(job.models) for job in jobs]  # type: ignore[list-item]
    for pieces, piece_results in zip(plan, done, strict=True):
        for (k, first, _), runs in zip(pieces, piece_results, strict=True):
            for v, run_result in enumerate(runs, start=first):
                results[k][jobs[k].numbers[v]] = run_result
    return results


def train_many(
    models: Sequence[nn.Module],
    task: Task,
    config: TrainConfig | Sequence[TrainConfig],
    progress_bar: bool = True,
    threads: int | None = None,
) -> list[TrainResult]:
    """Train every model on ``task`` at once and return one :class:`TrainResult` per model.

    The models must share one :func:`structure`; their weights and buffers may differ.
    ``config`` is one config for all or one per model (they may differ in ``lr``,
    ``warmup_steps`` and ``schedule``). The trained weights are copied back into ``models``.
    ``threads``: how many threads share the variants (default :data:`THREADS`; module
    docstring): the speed, not the training of the course's models. Buffers are read, never
    updated, so use norms without running statistics (LayerNorm, or BatchNorm with
    ``track_running_stats=False``). See the module docstring for ``forward_stacked``.
    """
    return _run_jobs([_stack_job(models, config)], task, progress_bar, threads)[0]


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
    (:class:`~coursekit.experiments.models.BatchNormNet` and ``TokenTransformer`` do). Results
    come back in the order of ``models``, each model's ``grad_norms`` with one entry per block of
    its own. ``threads``: as in :func:`train_many`.
    """
    return _run_jobs([_sweep_job(models, config)], task, progress_bar, threads)[0]


def train_side_by_side(
    runs: Sequence[tuple[Sequence[nn.Module], TrainConfig | Sequence[TrainConfig]]],
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
    jobs = []
    for run in runs:
        if not (isinstance(run, tuple) and len(run) == 2):
            raise TypeError(f"each run must be a (models, config) pair, got {type(run).__name__}")
        models, config = run
        models = _require_models(models)
        jobs.append(_sweep_job(models, config) if _depths_differ(models) else _stack_job(models, config))
    if not jobs:
        raise ValueError("runs must contain at least one (models, config) pair")
    return _run_jobs(jobs, task, progress_bar, threads)


def _train(
    models: list[nn.Module],
    numbers: list[int],
    task: Task,
    configs: list[TrainConfig],
    base: TrainConfig,
    flat: torch.Tensor,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    forward,
    bar,
    stop: threading.Event,
    blocks: list[int] | None = None,
) -> list[TrainResult]:
    """The training loop of :func:`train_many` on stacked weights, for one group of variants
    (``numbers``: their positions in the caller's list). ``bar``: a tqdm bar to advance, or
    None; ``stop``: set when another group failed. ``blocks[v]`` (default: all) is how many
    blocks variant ``v`` has, so its gradient norms stop there."""
    names = list(params)
    grad_buffer = torch.empty_like(flat)

    def step_fn(x, y):
        # the variants' losses are independent, so the gradient of their sum is each one's own
        loss, logits = forward(params, buffers, x, y)  # (variant,), (variant, batch, ..., n_classes)
        grads = torch.autograd.grad(loss.sum(), [params[n] for n in names], allow_unused=True)
        parts = [
            (torch.zeros_like(params[n]) if g is None else g).reshape(len(models), -1)
            for n, g in zip(names, grads, strict=True)
        ]
        # (variant, total), laid out as flat; into one reused buffer, as the optimizer's scratch
        return torch.cat(parts, dim=1, out=grad_buffer), loss.detach(), logits.detach()

    prefixes = block_prefixes(models[0])
    sizes = [p[0].numel() for p in params.values()]
    regions = None if blocks is None else _used_regions(names, sizes, prefixes, blocks)
    opt = _StackedOptimizer(flat, base, regions)
    blocks = [len(prefixes)] * len(models) if blocks is None else blocks
    lrs = torch.tensor([c.lr for c in configs])
    live = torch.ones(len(models))
    results = [TrainResult() for _ in models]
    index = batches(task.n_train, base.batch_size, base.steps, base.seed)
    with torch.no_grad():
        x = task.x_train[index[0]]
        _require_one_forward(models, forward(params, buffers, x, task.y_train[index[0]])[1], x, numbers)
    for step in range(base.steps):
        if stop.is_set():
            break
        x, y = task.x_train[index[step]], task.y_train[index[step]]
        grad, loss, logits = step_fn(x, y)  # (variant, total), (variant,), (variant, batch, ...)
        # NaN and Inf survive a sum, so one sum per variant finds every bad one
        bad = (~torch.isfinite(loss + grad.sum(1))).tolist()
        log = step % base.log_every == 0 or step == base.steps - 1
        if log:
            # (variant, numel) each: scalar parameters (a ReZero gate) too
            grads = dict(zip(params, grad.split(sizes, 1), strict=True))
            norms = grad_norms_by_block(grads, prefixes, variants=True).tolist()
            correct = (logits.argmax(-1) == y).flatten(1).float().mean(1).tolist()
        for v, (r, lost) in enumerate(zip(results, loss.tolist(), strict=True)):
            if r.diverged_at is not None:
                continue
            if bad[v]:
                r.diverged_at, live[v] = step, 0.0
                continue
            r.loss.append(lost)
            if log:
                r.steps_logged.append(step)
                r.accuracy.append(correct[v])
                r.grad_norms.append(norms[v][: blocks[v]])
        if all(r.diverged_at is not None for r in results):
            break
        factors = torch.tensor([lr_factor(step, c) for c in configs])
        opt.step(grad, lrs * factors, live, all(r.diverged_at is None for r in results))
        if bar is not None:
            bar.update()
    with torch.no_grad():
        for v, m in enumerate(models):
            for name, p in m.named_parameters():
                p.copy_(params[name][v])
    return results
