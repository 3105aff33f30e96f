"""Concatenate instead of add: a real DenseNet (Huang et al. 2017) against the residual net.

In a DenseNet every layer receives the concatenation of *all* earlier features and adds
``growth`` (k) new ones, so the input width grows by k per layer and a net of L layers has
L(L+1)/2 direct connections. A projected merge ``W [x; h]`` (U-Net style) concatenates too,
but projects back to a fixed width at every block: it is neither a residual nor a DenseNet.
All three, and the plain net, train on the digits at the same depth over several seeds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..data import DIGITS_CLASSES, Task, load_digits
from ..engine import map_side_by_side, train_side_by_side
from ..engine.jobs import Run
from ..engine.layers import batch_norm_stacked, linear_stacked
from ..probes import error_rate, parameter_counts
from ..seeding import seed_everything, single_threaded
from ..training import TrainResult
from ..validate import require_choice, require_int_tuple, require_positive_float, require_positive_int
from .models import BatchNormNet, digits_training
from .shortcuts import ShortcutConfig, ShortcutResult, plan_shortcuts


class DenseLayer(nn.Module):
    """``BN → ReLU → Linear(in_features, growth)``: DenseNet's composite function H_l
    (pre-activation, Huang et al. 2017), on vectors rather than images."""

    def __init__(self, in_features: int, growth: int) -> None:
        super().__init__()
        self.in_features, self.growth = in_features, growth
        self.bn = nn.BatchNorm1d(in_features, track_running_stats=False)
        self.linear = nn.Linear(in_features, growth, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.relu(self.bn(x)))  # (batch, in_features) -> (batch, growth)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, growth={self.growth}"


class DenseNet(nn.Module):
    """A stem to ``width`` features, one dense block of ``depth`` :class:`DenseLayer` s, then
    BN → ReLU → a linear head. Layer ``l`` (from 0) reads ``width + l * growth`` features: the
    stem's and those of every layer before it; the head reads ``width + depth * growth``.

    One dense block, no transition layers: DenseNet's transitions halve the image size
    between blocks, and there is no image here. The layers sit in ``blocks`` (what the
    trainer's per-block gradient norms read).
    """

    def __init__(
        self, depth: int, growth: int = 12, width: int = 64, d_in: int = 64, n_classes: int = DIGITS_CLASSES
    ):
        super().__init__()
        for name, value in (("depth", depth), ("growth", growth), ("width", width)):
            require_positive_int(name, value)
        self.stem = nn.Linear(d_in, width, bias=False)
        self.blocks = nn.ModuleList(DenseLayer(width + i * growth, growth) for i in range(depth))
        self.norm = nn.BatchNorm1d(width + depth * growth, track_running_stats=False)
        self.head = nn.Linear(width + depth * growth, n_classes)

    @property
    def widths(self) -> list[int]:
        """The input width of every layer, then the head's: grows by ``growth`` per layer."""
        return [block.in_features for block in self.blocks] + [self.head.in_features]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [self.stem(x)]  # (batch, width)
        for block in self.blocks:
            features.append(block(torch.cat(features, dim=-1)))  # (batch, growth)
        h = torch.relu(self.norm(torch.cat(features, dim=-1)))  # (batch, width + depth * growth)
        return self.head(h)  # (batch, n_classes)

    def forward_stacked(self, p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` of ``variant`` copies whose weights are stacked in ``p``, with batched
        matmuls (see :meth:`BatchNormNet.forward_stacked`). ``x`` ``(batch, d_in)``."""
        features = [torch.matmul(x, p["stem.weight"].transpose(1, 2))]  # (variant, batch, width)
        for i in range(len(self.blocks)):
            q = f"blocks.{i}."
            h = batch_norm_stacked(
                torch.cat(features, dim=-1), p[q + "bn.weight"], p[q + "bn.bias"], relu=True
            )
            features.append(torch.bmm(h, p[q + "linear.weight"].transpose(1, 2)))  # (variant, batch, growth)
        h = batch_norm_stacked(torch.cat(features, dim=-1), p["norm.weight"], p["norm.bias"], relu=True)
        return linear_stacked(h, p["head.weight"], p["head.bias"])  # (variant, batch, n_classes)


def dense_connections(depth: int) -> int:
    """Direct connections in a dense block of ``depth`` layers: layer ``l`` (from 1) reads
    ``l`` earlier outputs (the stem's included), so ``depth (depth + 1) / 2`` in all."""
    return depth * (depth + 1) // 2


VARIANTS = ("densenet", "residual", "projected", "plain")


@dataclass(frozen=True)
class DenseNetConfig:
    """The DenseNet against the width-64 residual, projected-merge and plain nets of the
    shortcut experiment. Growth 12 (Huang et al.'s k) keeps the parameter count below the
    residual net's (76,202 against 106,378 at depth 24)."""

    depth: int = 24
    growth: int = 12
    width: int = 64
    lr: float = 0.05
    epochs: int = 5  # the shortcut experiment's
    batch_size: int = 128
    seeds: tuple[int, ...] = (0, 1, 2)
    baselines: tuple[str, ...] = ("residual", "projected", "plain")  # the other nets to train

    def __post_init__(self) -> None:
        for name in ("depth", "growth", "width", "epochs", "batch_size"):
            require_positive_int(name, getattr(self, name))
        require_positive_float("lr", self.lr)
        require_int_tuple("seeds", self.seeds)
        if not isinstance(self.baselines, tuple):
            raise TypeError(f"baselines must be a tuple of names, got {self.baselines!r}")
        for name in self.baselines:
            require_choice("baselines", name, VARIANTS[1:])


@dataclass
class DenseNetResult:
    """Per variant (``"densenet"`` and the config's ``baselines``): ``final_loss`` and
    ``train_error`` (%) and ``curves_by_seed`` per seed, ``loss_curves`` of the first seed,
    ``parameters``; ``widths``
    are the DenseNet's layer input widths (then the head's), ``connections`` its direct
    connections."""

    config: DenseNetConfig
    final_loss: dict[str, list[float]] = field(default_factory=dict)
    train_error: dict[str, list[float]] = field(default_factory=dict)
    loss_curves: dict[str, list[float]] = field(default_factory=dict)
    parameters: dict[str, int] = field(default_factory=dict)
    curves_by_seed: dict[str, list[list[float]]] = field(default_factory=dict)  # [seed][step]
    widths: list[int] = field(default_factory=list)
    connections: int = 0
    diverged: int = 0

    def loss_range(self, variant: str) -> tuple[float, float]:
        """``(lowest, highest)`` final loss of ``variant`` over the seeds."""
        return min(self.final_loss[variant]), max(self.final_loss[variant])


def plan_densenet(
    config: DenseNetConfig, task: Task
) -> tuple[list[Run], Callable[[list[list[TrainResult]]], DenseNetResult]]:
    """The DenseNet and its baselines, built from their seeds: their engine runs (one per
    structure) and what turns the trained results into a :class:`DenseNetResult`
    (:func:`run_densenet` trains them alone, :func:`run_densenet_and_shortcuts` with others)."""
    if not isinstance(config, DenseNetConfig):
        raise TypeError(f"config must be a DenseNetConfig, got {type(config).__name__}")
    train = digits_training(config.epochs, config.batch_size, config.lr, task.n_train)

    def build(variant: str, seed: int) -> nn.Module:
        seed_everything(seed)
        if variant == "densenet":
            return DenseNet(config.depth, config.growth, config.width)
        shortcut = {"residual": "identity", "projected": "projected", "plain": "none"}[variant]
        return BatchNormNet(config.depth, config.width, shortcut=shortcut)

    additive = tuple(v for v in ("residual", "plain") if v in config.baselines)
    groups = [
        g
        for g in [("densenet",), additive, ("projected",)]
        if g and set(g) <= {"densenet", *config.baselines}
    ]
    members = [[(v, seed, build(v, seed)) for seed in config.seeds for v in group] for group in groups]
    runs = [([m for _, _, m in group], train) for group in members]
    return runs, functools.partial(_collect, config, task, members)


def _collect(
    config: DenseNetConfig,
    task: Task,
    members: list[list[tuple[str, int, nn.Module]]],
    trained: list[list[TrainResult]],
) -> DenseNetResult:
    """The :class:`DenseNetResult` of the trained ``members`` (see :func:`plan_densenet`)."""
    result = DenseNetResult(config)
    models = [model for group in members for _, _, model in group]
    errors = iter(map_side_by_side(lambda m: 100 * error_rate(m, task.x_train, task.y_train), models))
    for group, runs in zip(members, trained, strict=True):
        for (variant, seed, model), run in zip(group, runs, strict=True):
            result.final_loss.setdefault(variant, []).append(run.final_loss)
            result.curves_by_seed.setdefault(variant, []).append(run.loss)
            result.train_error.setdefault(variant, []).append(next(errors))
            result.diverged += run.diverged_at is not None
            if seed == config.seeds[0]:
                result.loss_curves[variant] = run.loss
                result.parameters[variant] = parameter_counts(model)["total"]
                if variant == "densenet":
                    result.widths = model.widths
    tables = (
        result.final_loss,
        result.train_error,
        result.loss_curves,
        result.curves_by_seed,
        result.parameters,
    )
    for table in tables:
        ordered = {v: table[v] for v in VARIANTS if v in table}
        table.clear()
        table.update(ordered)
    result.connections = dense_connections(config.depth)
    return result


@single_threaded
def run_densenet(config: DenseNetConfig = DenseNetConfig(), progress_bar: bool = True) -> DenseNetResult:
    """Train the DenseNet and the residual, projected and plain nets at every seed."""
    task = load_digits()
    runs, finish = plan_densenet(config, task)
    # one stacked run per structure, side by side
    return finish(train_side_by_side(runs, task, progress_bar=progress_bar))


@single_threaded
def run_densenet_and_shortcuts(
    config: DenseNetConfig = DenseNetConfig(baselines=()),
    shortcuts: ShortcutConfig | None = None,
    progress_bar: bool = True,
) -> tuple[DenseNetResult, ShortcutResult]:
    """:func:`run_densenet` and :func:`~.shortcuts.run_shortcuts` (``shortcuts``, by default its
    default config) in one engine call: the same numbers as apart, sooner, because their runs
    share both threads (the DenseNet's three variants alone keep one thread idle a third of the
    time)."""
    task = load_digits()
    dense_runs, finish_dense = plan_densenet(config, task)
    shortcut_runs, finish_shortcuts = plan_shortcuts(shortcuts or ShortcutConfig(), task)
    trained = train_side_by_side([*shortcut_runs, *dense_runs], task, progress_bar=progress_bar)
    split = len(shortcut_runs)
    return finish_dense(trained[split:]), finish_shortcuts(trained[:split])
