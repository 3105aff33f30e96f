"""The textbook training loop, and what every trainer shares: the config, the schedule, the record.

:func:`train_model` is the loop a learner reads: ``loss.backward()``, ``torch.optim``, a
learning-rate schedule. :func:`coursekit.engine.train_many` trains many variants at
once and records the same numbers (tests check that they agree).

A run whose loss or gradient turns NaN/Inf stops; its step is recorded in ``diverged_at``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data import Task, batches
from ..measures import accuracy, block_prefixes, cross_entropy, grad_norms_by_block
from ..validate import require_choice, require_positive_float, require_positive_int

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
    eps: float = 1e-8  # adam only: added to the denominator, as torch.optim.Adam
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


def tqdm_bar(total: int, show: bool, desc: str) -> tqdm:
    """A tqdm bar over ``range(total)`` (a widget in Jupyter, text elsewhere), or none."""
    return tqdm(range(total), disable=not show, desc=desc, leave=False, mininterval=0.5)


def train_model(model: nn.Module, task: Task, config: TrainConfig, progress_bar: bool = True) -> TrainResult:
    """Train ``model`` in place on ``task.x_train`` with a plain loop; return what it recorded."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    params = list(model.parameters())
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    else:
        opt = torch.optim.Adam(params, lr=config.lr, betas=config.betas, eps=config.eps)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, config))
    prefixes = block_prefixes(model)
    named = dict(model.named_parameters())
    result = TrainResult()
    model.train()
    index = batches(task.n_train, config.batch_size, config.steps, config.seed)
    for step in tqdm_bar(config.steps, progress_bar, "training"):
        x, y = task.x_train[index[step]], task.y_train[index[step]]
        opt.zero_grad(set_to_none=False)
        logits = model(x)
        loss = cross_entropy(logits, y)
        loss.backward()
        grads = {n: torch.zeros_like(p) if p.grad is None else p.grad for n, p in named.items()}
        finite = torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads.values())
        if not finite:
            result.diverged_at = step
            break
        result.loss.append(loss.item())
        if step % config.log_every == 0 or step == config.steps - 1:
            result.steps_logged.append(step)
            result.accuracy.append(accuracy(logits, y))
            result.grad_norms.append(grad_norms_by_block(grads, prefixes).tolist())
        opt.step()
        schedule.step()
    return result
