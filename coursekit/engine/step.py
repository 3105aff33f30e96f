"""One thread's share of a job, trained: stacked weights, the stacked loss, the step, the record.

A variant whose loss or gradient turns NaN/Inf stops (its weights freeze), its step is
recorded in ``diverged_at``, and the other variants carry on.

Where the time goes (``coursekit bench``): the optimizer works on one flat buffer
(:mod:`.optimizer`), the loss takes the classes in dim 1 (a ~10x faster cross-entropy kernel),
and the gradient lands in one reused buffer; the loop around it is :mod:`.run`'s.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional as F

from ..data import Task, batches
from ..measures import block_prefixes, cross_entropy, grad_norms_by_block
from ..training import TrainConfig, TrainResult, lr_factor
from .contract import Stacked, has_stacked_forward, require_one_forward
from .jobs import Job
from .optimizer import StackedOptimizer, used_regions

# loss(params, buffers, x, y) -> (per-variant loss (variant,), logits (variant, batch, ..., classes))
StackedLoss = Callable[[Stacked, Stacked, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def stack_weights(
    models: list[nn.Module], template: nn.Module | None = None
) -> tuple[torch.Tensor, Stacked, Stacked]:
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
    own_buffers = [dict(m.named_buffers()) for m in models]
    buffers = {
        name: torch.stack([own.get(name, t).detach() for own in own_buffers])
        for name, t in template.named_buffers()
    }
    return flat, params, buffers


def stacked_loss(like: nn.Module, active: tuple[int, ...] | None = None) -> StackedLoss:
    """``like``'s computation for every variant, as a :data:`StackedLoss`: its own
    ``forward_stacked`` when it has one, else ``vmap`` over its ``forward``. ``active`` (a depth
    sweep, ``like`` the deepest) is passed on to ``forward_stacked``."""
    if active is not None or has_stacked_forward(like):
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
class Share:
    """Variants ``first:end`` of a job, their weights stacked, ready to train on one thread.
    ``numbers``: their positions in the caller's list; ``blocks[v]``: variant ``v``'s depth
    (a depth sweep) or None (all the same)."""

    models: list[nn.Module]
    numbers: list[int]
    configs: list[TrainConfig]
    base: TrainConfig
    blocks: list[int] | None
    loss: StackedLoss
    flat: torch.Tensor  # (variant, total)
    params: Stacked  # views into flat
    buffers: Stacked

    @classmethod
    def of(cls, job: Job, first: int, end: int) -> Share:
        """Variants ``first:end`` of ``job``, stacked."""
        group = job.models[first:end]
        if job.depths is None:
            # every share computes what the job's first model computes, so a variant that differs
            # from it in a setting no tensor shows is refused whichever share it lands in
            loss, template, blocks = stacked_loss(job.models[0]), None, None
        else:  # a share keeps the deepest-first order: its first model is its deepest
            blocks = job.depths[first:end]
            active = tuple(sum(d > i for d in blocks) for i in range(blocks[0]))
            loss, template = stacked_loss(group[0], active), group[0]
        flat, params, buffers = stack_weights(group, template)
        configs, numbers = job.configs[first:end], job.numbers[first:end]
        return cls(group, numbers, configs, job.base, blocks, loss, flat, params, buffers)

    def gradient(self) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]:
        """``step(x, y) -> (grad (variant, total), loss (variant,), logits)``, the gradient laid
        out as :attr:`flat`, in one buffer reused every step (as the optimizer's scratch)."""
        names, n = list(self.params), len(self.models)
        grad_buffer = torch.empty_like(self.flat)

        def step(x, y):
            # the variants' losses are independent, so the gradient of their sum is each one's own
            loss, logits = self.loss(self.params, self.buffers, x, y)  # (variant,), (variant, batch, ...)
            grads = torch.autograd.grad(loss.sum(), [self.params[k] for k in names], allow_unused=True)
            parts = [
                (torch.zeros_like(self.params[k]) if g is None else g).reshape(n, -1)
                for k, g in zip(names, grads, strict=True)
            ]
            return torch.cat(parts, dim=1, out=grad_buffer), loss.detach(), logits.detach()

        return step

    def copy_back(self) -> None:
        """The trained weights into the models."""
        with torch.no_grad():
            for v, m in enumerate(self.models):
                for name, p in m.named_parameters():
                    p.copy_(self.params[name][v])


@dataclass
class Record:
    """What :func:`train_share` records, one :class:`TrainResult` per variant, and which variants
    still train (``live``, 1.0 or 0.0 each)."""

    prefixes: list[str]  # one per block
    sizes: list[int]  # each parameter's numel per variant, in the flat buffer's order
    names: list[str]
    blocks: list[int]  # each variant's depth
    live: torch.Tensor
    results: list[TrainResult] = field(default_factory=list)

    @property
    def all_live(self) -> bool:
        return all(r.diverged_at is None for r in self.results)

    @property
    def all_stopped(self) -> bool:
        return all(r.diverged_at is not None for r in self.results)

    def add(self, step: int, log: bool, grad: torch.Tensor, loss: torch.Tensor, logits, y) -> None:
        """Step ``step``'s losses (and, when ``log``, accuracy and gradient norms per block); a
        variant whose loss or gradient is not finite stops here."""
        # NaN and Inf survive a sum, so one sum per variant finds every bad one
        bad = (~torch.isfinite(loss + grad.sum(1))).tolist()
        if log:
            # (variant, numel) each: scalar parameters (a ReZero gate) too
            grads = dict(zip(self.names, grad.split(self.sizes, 1), strict=True))
            norms = grad_norms_by_block(grads, self.prefixes, variants=True).tolist()
            correct = (logits.argmax(-1) == y).flatten(1).float().mean(1).tolist()
        for v, (r, lost) in enumerate(zip(self.results, loss.tolist(), strict=True)):
            if r.diverged_at is not None:
                continue
            if bad[v]:
                r.diverged_at, self.live[v] = step, 0.0
                continue
            r.loss.append(lost)
            if log:
                r.steps_logged.append(step)
                r.accuracy.append(correct[v])
                r.grad_norms.append(norms[v][: self.blocks[v]])


def _record_for(share: Share) -> Record:
    prefixes = block_prefixes(share.models[0])
    n = len(share.models)
    blocks = [len(prefixes)] * n if share.blocks is None else share.blocks
    sizes = [p[0].numel() for p in share.params.values()]
    results = [TrainResult() for _ in share.models]
    return Record(prefixes, sizes, list(share.params), blocks, torch.ones(n), results)


def train_share(share: Share, task: Task, bar, stop: threading.Event) -> list[TrainResult]:
    """The training loop of :func:`~coursekit.engine.train_many` on one :class:`Share`.
    ``bar``: a tqdm bar to advance, or None; ``stop``: set when another share failed."""
    base, step_fn, record = share.base, share.gradient(), _record_for(share)
    regions = None
    if share.blocks is not None:
        regions = used_regions(record.names, record.sizes, record.prefixes, share.blocks)
    opt = StackedOptimizer(share.flat, base, regions)
    lrs = torch.tensor([c.lr for c in share.configs])
    index = batches(task.n_train, base.batch_size, base.steps, base.seed)
    with torch.no_grad():
        x = task.x_train[index[0]]
        logits = share.loss(share.params, share.buffers, x, task.y_train[index[0]])[1]
        require_one_forward(share.models, logits, x, share.numbers)
    for step in range(base.steps):
        if stop.is_set():
            break
        x, y = task.x_train[index[step]], task.y_train[index[step]]
        grad, loss, logits = step_fn(x, y)  # (variant, total), (variant,), (variant, batch, ...)
        record.add(step, step % base.log_every == 0 or step == base.steps - 1, grad, loss, logits, y)
        if record.all_stopped:
            break
        factors = torch.tensor([lr_factor(step, c) for c in share.configs])
        opt.step(grad, lrs * factors, record.live, record.all_live)
        if bar is not None:
            bar.update()
    share.copy_back()
    return record.results
