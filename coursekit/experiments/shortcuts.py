"""A clean identity shortcut beats scaled, gated and projected ones (He et al. 2016).

The digits net at depth with six shortcuts: none (plain), identity, scaled (× 0.5), gated
(exclusive gating, with each gate bias of ``gate_biases``) and a projected merge
``W [x; h]`` (U-Net style). He et al.'s ResNet-110 on CIFAR-10: identity 6.61 %, × 0.5
12.35 %, 1×1 conv 12.22 %, gating 8.70 % with bias −6 and a failure with bias 0 to −5.

None, identity and scaled share a structure and train in one batched run with every seed;
the gated variants (every bias, every seed) in a second; the projected merge in a third.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..data import Task, load_digits, probe_batch
from ..engine import map_side_by_side, train_side_by_side
from ..engine.jobs import Run
from ..probes import error_rate, parameter_counts
from ..seeding import seed_everything, single_threaded
from ..training import TrainResult
from ..validate import require_int_tuple, require_positive_float, require_positive_int
from .models import BatchNormNet, digits_training


@dataclass(frozen=True)
class ShortcutConfig:
    """24 blocks, 5 epochs, 3 seeds: deep enough for the shortcut to matter (0.73^24 ≈ 5e-4: a
    gate with bias −1 leaves the long shortcut path almost empty). The gate with bias −6 leads for
    two epochs; the identity overtakes it in the third or fourth, and its lead over the fifth is
    what shows its win at every seed (32 blocks show the same at a third more cost)."""

    depth: int = 24
    width: int = 64
    lr: float = 0.05  # plain SGD, as in the degradation sweep
    epochs: int = 5
    batch_size: int = 128
    seeds: tuple[int, ...] = (0, 1, 2)  # initialisations; the minibatch order is shared
    scale: float = 0.5  # the scaled shortcut's factor (He et al. 2016's × 0.5)
    gate_biases: tuple[float, ...] = (-1.0, -6.0)  # the gates' initial bias b_g, one variant each

    def __post_init__(self) -> None:
        for name in ("depth", "width", "epochs", "batch_size"):
            require_positive_int(name, getattr(self, name))
        require_positive_float("lr", self.lr)
        require_positive_float("scale", self.scale)
        require_int_tuple("seeds", self.seeds)
        biases = self.gate_biases
        if not isinstance(biases, tuple) or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in biases
        ):
            raise TypeError(f"gate_biases must be a tuple of finite numbers, got {biases!r}")
        if len(set(biases)) != len(biases):
            raise ValueError(f"gate_biases must not repeat a value, got {biases!r}")

    @property
    def variants(self) -> tuple[str, ...]:
        """The variant names, in the order of the results' dicts."""
        gated = tuple(gate_name(b) for b in self.gate_biases)
        return ("none", "identity", "scaled", *gated, "projected")


def gate_name(bias: float) -> str:
    """The variant name of a gated shortcut with initial gate bias ``bias``: ``"gated -6"``."""
    return f"gated {bias:g}"


@dataclass
class ShortcutResult:
    """Per variant (see :attr:`ShortcutConfig.variants`): ``loss_curves`` of the first seed,
    ``final_loss`` (mean over the last tenth of training) and ``train_error`` (%, whole training
    set) per seed, ``parameters``, and ``carry`` — the fraction of the input the shortcut path
    alone carries through every block at init (1 identity, ``scale**depth`` scaled, the
    product of the gates' mean ``1 - g`` for gated, 0 for none, NaN for projected)."""

    config: ShortcutConfig
    loss_curves: dict[str, list[float]]
    final_loss: dict[str, list[float]]
    train_error: dict[str, list[float]]
    parameters: dict[str, int]
    carry: dict[str, float] = field(default_factory=dict)
    curves_by_seed: dict[str, list[list[float]]] = field(default_factory=dict)  # [seed][step]
    diverged: int = 0  # number of runs stopped by a NaN/Inf loss

    def loss_range(self, variant: str) -> tuple[float, float]:
        """``(lowest, highest)`` final loss of ``variant`` over the seeds."""
        return min(self.final_loss[variant]), max(self.final_loss[variant])

    def ranking(self, seed_index: int) -> list[str]:
        """The variants from lowest to highest final loss at one seed (by position in ``seeds``)."""
        return sorted(self.final_loss, key=lambda v: self.final_loss[v][seed_index])

    def identity_wins_every_seed(self) -> bool:
        """Whether the identity has the lowest final loss at every seed."""
        return all(self.ranking(i)[0] == "identity" for i in range(len(self.config.seeds)))


def _carry_by_block(model: BatchNormNet, x: torch.Tensor) -> list[float]:
    """After each block, the product so far of the gates' mean ``1 - g`` on ``x``."""
    carry, out = 1.0, []
    with torch.no_grad():
        h = model.stem(x)
        for block in model.blocks:
            carry *= (1 - torch.sigmoid(block.gate(h))).mean().item()
            out.append(carry)
            h = block(h)
    return out


def _gate_carry(model: BatchNormNet, x: torch.Tensor) -> float:
    """Product over blocks of the gates' mean ``1 - g`` on ``x``: what the shortcut path carries."""
    return _carry_by_block(model, x)[-1]


@single_threaded
def gate_carry_by_block(
    depth: int = 24, gate_bias: float = -1.0, width: int = 64, seed: int = 0
) -> list[float]:
    """At init, on 512 digits: the fraction of the input the gated shortcut path alone carries
    past each block, the product of the gates' mean ``1 - sigmoid(W_g x + b_g)`` so far.
    About ``(1 - sigmoid(b_g))^l``: 0.73^l at ``b_g = -1``, 0.998^l at ``-6``."""
    require_positive_int("depth", depth)
    seed_everything(seed)
    model = BatchNormNet(depth, width, shortcut="gated", gate_bias=gate_bias)
    return _carry_by_block(model, probe_batch(load_digits())[0])


Finish = Callable[[list[list[TrainResult]]], ShortcutResult]


def plan_shortcuts(config: ShortcutConfig, task: Task) -> tuple[list[Run], Finish]:
    """The experiment's nets, built from their seeds (the gates' carry measured at init): its engine
    runs, one per structure (additive, gated, projected), and what turns their trained results
    into a :class:`ShortcutResult`. :func:`run_shortcuts` trains them alone; other runs may share
    the engine call (:func:`~coursekit.experiments.densenet.run_densenet_and_shortcuts`)."""
    if not isinstance(config, ShortcutConfig):
        raise TypeError(f"config must be a ShortcutConfig, got {type(config).__name__}")
    train = digits_training(config.epochs, config.batch_size, config.lr, task.n_train)

    def build(shortcut: str, seed: int, gate_bias: float = -1.0) -> BatchNormNet:
        seed_everything(seed)  # the same seed gives every variant the same main-path weights
        return BatchNormNet(
            config.depth, config.width, shortcut=shortcut, scale=config.scale, gate_bias=gate_bias
        )

    groups = [
        [(name, seed, build(name, seed)) for seed in config.seeds for name in ("none", "identity", "scaled")],
        [(gate_name(b), seed, build("gated", seed, b)) for seed in config.seeds for b in config.gate_biases],
        [("projected", seed, build("projected", seed)) for seed in config.seeds],
    ]
    x_probe, _ = probe_batch(task)
    carry = {  # at init, before training
        name: _gate_carry(model, x_probe)
        for group in groups
        for name, seed, model in group
        if seed == config.seeds[0] and name.startswith("gated")
    }
    runs = [([model for _, _, model in group], train) for group in groups]
    return runs, functools.partial(_collect, config, task, groups, carry)


def _collect(
    config: ShortcutConfig,
    task: Task,
    groups: list[list[tuple[str, int, BatchNormNet]]],
    carry: dict[str, float],
    trained: list[list[TrainResult]],
) -> ShortcutResult:
    """The :class:`ShortcutResult` of the trained ``groups`` (see :func:`plan_shortcuts`)."""
    names, first = config.variants, config.seeds[0]
    result = ShortcutResult(config, {}, {v: [] for v in names}, {v: [] for v in names}, {})
    result.curves_by_seed = {v: [] for v in names}
    models = [model for group in groups for _, _, model in group]
    errors = iter(map_side_by_side(lambda m: 100 * error_rate(m, task.x_train, task.y_train), models))
    for group, runs in zip(groups, trained, strict=True):
        for (name, seed, model), run in zip(group, runs, strict=True):
            result.final_loss[name].append(run.final_loss)
            result.curves_by_seed[name].append(run.loss)
            result.train_error[name].append(next(errors))
            result.diverged += run.diverged_at is not None
            if seed == first:
                result.loss_curves[name] = run.loss
                result.parameters[name] = parameter_counts(model)["total"]
    fixed = {"none": 0.0, "identity": 1.0, "scaled": config.scale**config.depth, "projected": math.nan}
    carry = carry | fixed
    result.loss_curves = {v: result.loss_curves[v] for v in names}
    result.parameters = {v: result.parameters[v] for v in names}
    result.carry = {v: carry[v] for v in names}
    return result


@single_threaded
def run_shortcuts(config: ShortcutConfig = ShortcutConfig(), progress_bar: bool = True) -> ShortcutResult:
    """Train the net with every shortcut from the same seeds; return losses, errors, sizes."""
    task = load_digits()
    runs, finish = plan_shortcuts(config, task)
    # one stacked run per structure (additive, gated, projected), the three side by side
    return finish(train_side_by_side(runs, task, progress_bar=progress_bar))
