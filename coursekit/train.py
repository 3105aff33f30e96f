"""Training: one model with a plain loop, or many variants at once as one batched computation.

:func:`train_model` is the textbook loop (``loss.backward()``, ``torch.optim``).
:func:`train_many` trains a list of models of the same structure (differing in weights:
seeds, skip on/off via a buffer, ...) and per-variant learning rates and warm-ups, as *one*
computation: the weights are stacked along a leading ``variant`` dimension
(``torch.func.stack_module_state``) and ``vmap`` turns every matmul into one batched matmul
(or, faster, the model's own ``forward_stacked`` does it with explicit ``torch.bmm``).
Both functions record the same numbers, and tests check that they agree.

A variant whose loss or gradient turns NaN/Inf stops (its weights freeze), its step is
recorded in ``diverged_at``, and the other variants carry on.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F
from tqdm.auto import tqdm

from .data import Task, batches
from .probes import find_blocks
from .validate import require_choice, require_positive_float, require_positive_int

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "linear")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Variants trained together by :func:`train_many` may differ only in
    ``lr``, ``warmup_steps`` and ``schedule``."""

    steps: int = 300
    lr: float = 0.05
    batch_size: int = 128
    optimizer: str = "sgd"  # "sgd" (plain, or with momentum > 0) or "adam"
    momentum: float = 0.0  # sgd only
    betas: tuple[float, float] = (0.9, 0.999)  # adam only
    warmup_steps: int = 0  # linear warm-up from lr / warmup_steps to lr (Goyal et al. 2017)
    schedule: str = "constant"  # after warm-up: "constant", "cosine" or "linear" decay to 0
    log_every: int = 10  # record accuracy and per-layer gradient norms every this many steps
    seed: int = 0  # order of the minibatches

    def __post_init__(self) -> None:
        require_positive_int("steps", self.steps)
        require_positive_float("lr", self.lr)
        require_positive_int("batch_size", self.batch_size)
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        require_choice("schedule", self.schedule, SCHEDULES)
        require_positive_int("log_every", self.log_every)
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        steps = self.warmup_steps
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise TypeError(f"warmup_steps must be an int, got {steps!r} ({type(steps).__name__})")
        if steps < 0:
            raise ValueError(f"warmup_steps must be a non-negative int, got {steps}")


def lr_factor(step: int, config: TrainConfig) -> float:
    """Multiplier on ``config.lr`` at ``step`` (0-based): linear warm-up, then the schedule."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    if config.schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class TrainResult:
    """What one training run recorded, as plain numbers.

    ``loss`` has one entry per step taken; ``steps_logged`` are the steps at which
    ``accuracy`` (on the minibatch) and ``grad_norms`` (one float per block) were recorded.
    ``diverged_at`` is the first step whose loss or gradient was NaN/Inf, else ``None``.
    """

    loss: list[float] = field(default_factory=list)
    steps_logged: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    grad_norms: list[list[float]] = field(default_factory=list)
    diverged_at: int | None = None

    @property
    def final_loss(self) -> float:
        """Mean loss over the last tenth of the steps taken (NaN if it diverged)."""
        if self.diverged_at is not None or not self.loss:
            return math.nan
        tail = self.loss[-max(1, len(self.loss) // 10) :]
        return sum(tail) / len(tail)


def block_groups(model: nn.Module) -> list[str]:
    """Parameter-name prefixes, one per block (see :func:`coursekit.probes.find_blocks`),
    or one per top-level child for a model without ``blocks``."""
    try:
        name, blocks = find_blocks(model)
    except ValueError:
        return [f"{n}." for n, child in model.named_children() if any(True for _ in child.parameters())]
    return [f"{name}.{i}." for i in range(len(blocks))]


def _norms_by_block(grads: dict[str, torch.Tensor], prefixes: list[str]) -> torch.Tensor:
    """``(variant, blocks)`` (or ``(blocks,)``) L2 norms of the gradients under each prefix."""
    sums = []
    for prefix in prefixes:
        parts = [
            g.reshape(*g.shape[: g.dim() - p_dim], -1).pow(2).sum(-1)
            for name, (g, p_dim) in grads.items()
            if name.startswith(prefix)
        ]
        sums.append(torch.stack(parts).sum(0))
    return torch.stack(sums, dim=-1).sqrt()


def classification_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every example (and position): logits ``(*, n_classes)``."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of examples (or positions) whose arg-max logit is the target."""
    return (logits.argmax(-1) == targets).float().mean().item()


def _progress(total: int, show: bool, desc: str) -> tqdm:
    return tqdm(range(total), disable=not show, desc=desc, leave=False, mininterval=0.5)


def train_model(model: nn.Module, task: Task, config: TrainConfig, progress: bool = True) -> TrainResult:
    """Train ``model`` in place on ``task.x_train`` with a plain loop; return what it recorded."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    params = list(model.parameters())
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    else:
        opt = torch.optim.Adam(params, lr=config.lr, betas=config.betas)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, config))
    prefixes = block_groups(model)
    named = dict(model.named_parameters())
    result = TrainResult()
    model.train()
    index = batches(task.n_train, config.batch_size, config.steps, config.seed)
    for step in _progress(config.steps, progress, "training"):
        x, y = task.x_train[index[step]], task.y_train[index[step]]
        opt.zero_grad(set_to_none=False)
        logits = model(x)
        loss = classification_loss(logits, y)
        loss.backward()
        grads = {n: (torch.zeros_like(p) if p.grad is None else p.grad, p.dim()) for n, p in named.items()}
        finite = torch.isfinite(loss) and all(torch.isfinite(g).all() for g, _ in grads.values())
        if not finite:
            result.diverged_at = step
            break
        result.loss.append(loss.item())
        if step % config.log_every == 0 or step == config.steps - 1:
            result.steps_logged.append(step)
            result.accuracy.append(accuracy(logits, y))
            result.grad_norms.append(_norms_by_block(grads, prefixes).tolist())
        opt.step()
        schedule.step()
    return result


def _structure(model: nn.Module) -> tuple:
    return (type(model), repr(model), tuple((n, p.shape) for n, p in model.named_parameters()))


def _require_one_forward(models: list[nn.Module], shared_logits: torch.Tensor, x: torch.Tensor) -> None:
    """Refuse variants whose own forward is not what the shared computation gives them.

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
                    f"models[{v}] computes something else than models[0] would with its weights: "
                    "they differ in a setting no tensor shows (such as residual=True/False). "
                    "Keep such a switch in a buffer, or train each model with train_model"
                )


class _StackedOptimizer:
    """SGD (momentum) or Adam on all stacked weights as one flat ``(variant, total)`` buffer, as
    ``torch.optim`` computes them, with one learning rate per variant and a ``live`` mask that
    freezes stopped variants. One buffer makes a step a handful of ops, not several per tensor."""

    def __init__(self, flat: torch.Tensor, config: TrainConfig) -> None:
        self.config = config
        self.t = 0
        self.flat = flat  # (variant, total)
        self.m, self.v = torch.zeros_like(flat), torch.zeros_like(flat)
        # scratch reused every step: a fresh buffer this size costs a page fault per 4 KiB
        self.update = torch.empty_like(flat)
        self.denom = torch.empty_like(flat) if config.optimizer == "adam" else None

    @torch.no_grad()
    def step(self, grad: torch.Tensor, lr: torch.Tensor, live: torch.Tensor, all_live: bool) -> None:
        """One update from ``grad`` ``(variant, total)``; ``lr`` and ``live`` are ``(variant,)``."""
        c, self.t = self.config, self.t + 1
        scale = (lr * live).unsqueeze(1)  # (variant, 1)
        g = grad if all_live else torch.nan_to_num(grad) * live.unsqueeze(1)
        m, v = self.m, self.v
        if c.optimizer == "sgd":
            if c.momentum and self.t > 1:
                g = m.mul_(c.momentum).add_(g)
            elif c.momentum:
                g = m.copy_(g)
            torch.mul(scale, g, out=self.update)
        else:
            b1, b2 = c.betas
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = torch.sqrt(v, out=self.denom).div_(math.sqrt(1 - b2**self.t)).add_(1e-8)
            torch.mul(scale / (1 - b1**self.t), m, out=self.update).div_(denom)
        self.flat.sub_(self.update)


def _check_configs(configs: Sequence[TrainConfig]) -> TrainConfig:
    base = configs[0]
    for c in configs:
        if not isinstance(c, TrainConfig):
            raise TypeError(f"configs must be TrainConfig objects, got {type(c).__name__}")
        shared = (c.steps, c.batch_size, c.optimizer, c.momentum, c.betas, c.log_every, c.seed)
        if shared != (
            base.steps,
            base.batch_size,
            base.optimizer,
            base.momentum,
            base.betas,
            base.log_every,
            base.seed,
        ):
            raise ValueError(
                "variants trained together may differ only in lr, warmup_steps and schedule; "
                f"got {c} and {base}"
            )
    return base


def train_many(
    models: Sequence[nn.Module],
    task: Task,
    config: TrainConfig | Sequence[TrainConfig],
    progress: bool = True,
) -> list[TrainResult]:
    """Train every model on ``task`` at once and return one :class:`TrainResult` per model.

    The models must share their structure (class, modules, parameter shapes); their weights
    and buffers may differ. A model class may define ``forward_stacked(params_and_buffers, x)``
    returning ``(variant, batch, ..., n_classes)`` logits, used instead of ``vmap``.
    ``config`` is one config for all or one per model. The trained weights are copied back
    into ``models``. Buffers are read, never updated, so use norms
    without running statistics (LayerNorm, or BatchNorm with ``track_running_stats=False``).
    """
    models = list(models)
    if not models:
        raise ValueError("models must contain at least one model")
    for m in models:
        if not isinstance(m, nn.Module):
            raise TypeError(f"models must be torch.nn.Module objects, got {type(m).__name__}")
    if len({_structure(m) for m in models}) > 1:
        raise ValueError("all models passed to train_many must share one structure (class, modules, shapes)")
    configs = [config] * len(models) if isinstance(config, TrainConfig) else list(config)
    if len(configs) != len(models):
        raise ValueError(f"got {len(configs)} configs for {len(models)} models")
    base = _check_configs(configs)

    for m in models:
        m.train()
    stacked, buffers = stack_module_state(models)  # name -> (variant, ...)
    # every stacked weight is a leaf view into one flat buffer, which the optimizer updates
    flat = torch.cat(
        [p.detach().reshape(len(models), -1) for p in stacked.values()], dim=1
    )  # (variant, total)
    sizes = [p[0].numel() for p in stacked.values()]
    params = {
        name: chunk.view(p.shape).requires_grad_(True)
        for (name, p), chunk in zip(stacked.items(), flat.split(sizes, dim=1), strict=True)
    }
    dims = {n: p.dim() - 1 for n, p in params.items()}

    def loss_of(p, b, x, y):
        logits = functional_call(template, (p, b), (x,))
        return classification_loss(logits, y), logits

    def loss_stacked(p, b, x, y):
        logits = models[0].forward_stacked(p | b, x)  # (variant, batch, ..., n_classes)
        losses = F.cross_entropy(
            logits.flatten(0, -2), y.expand(len(models), *y.shape).flatten(), reduction="none"
        )
        return losses.view(len(models), -1).mean(1), logits

    # a model may compute all variants itself with explicit batched matmuls; else vmap does it
    if hasattr(models[0], "forward_stacked"):
        forward = loss_stacked
    else:
        template = copy.deepcopy(models[0]).to("meta")
        forward = vmap(loss_of, in_dims=(0, 0, None, None))
    names = list(params)
    grad_buffer = torch.empty_like(flat)

    def step_fn(params, buffers, x, y):
        # the variants' losses are independent, so the gradient of their sum is each one's own
        loss, logits = forward(params, buffers, x, y)  # (variant,), (variant, batch, ..., n_classes)
        grads = torch.autograd.grad(loss.sum(), [params[n] for n in names], allow_unused=True)
        parts = [
            (torch.zeros_like(params[n]) if g is None else g).reshape(len(models), -1)
            for n, g in zip(names, grads, strict=True)
        ]
        # (variant, total), laid out as flat; into one reused buffer, as the optimizer's scratch
        return torch.cat(parts, dim=1, out=grad_buffer), (loss.detach(), logits.detach())

    opt = _StackedOptimizer(flat, base)
    prefixes = block_groups(models[0])
    lrs = torch.tensor([c.lr for c in configs])
    live = torch.ones(len(models))
    results = [TrainResult() for _ in models]
    index = batches(task.n_train, base.batch_size, base.steps, base.seed)
    with torch.no_grad():
        x, y = task.x_train[index[0]], task.y_train[index[0]]
        _require_one_forward(models, forward(params, buffers, x, y)[1], x)
    bar = _progress(base.steps, progress, f"training {len(models)} variants")
    for step in bar:
        x, y = task.x_train[index[step]], task.y_train[index[step]]
        grad, (loss, logits) = step_fn(params, buffers, x, y)  # (variant, total), (variant,)
        # NaN and Inf survive a sum, so one sum per variant finds every bad one
        bad = (~torch.isfinite(loss + grad.sum(1))).tolist()
        log = step % base.log_every == 0 or step == base.steps - 1
        if log:
            grads = {
                n: (g.view(p.shape), dims[n])
                for (n, p), g in zip(params.items(), grad.split(sizes, 1), strict=True)
            }
            norms = _norms_by_block(grads, prefixes).tolist()
            correct = (logits.argmax(-1) == y).flatten(1).float().mean(1).tolist()
        losses = loss.tolist()
        for v, r in enumerate(results):
            if r.diverged_at is not None:
                continue
            if bad[v]:
                r.diverged_at, live[v] = step, 0.0
                continue
            r.loss.append(losses[v])
            if log:
                r.steps_logged.append(step)
                r.accuracy.append(correct[v])
                r.grad_norms.append(norms[v])
        if all(r.diverged_at is not None for r in results):
            break
        factors = torch.tensor([lr_factor(step, c) for c in configs])
        opt.step(grad, lrs * factors, live, all(r.diverged_at is None for r in results))
    bar.close()
    with torch.no_grad():
        for v, m in enumerate(models):
            for name, p in m.named_parameters():
                p.copy_(params[name][v])
    return results
