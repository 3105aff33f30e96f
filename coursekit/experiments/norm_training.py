"""Pre-norm versus post-norm in training (Xiong et al. 2020; Liu et al. 2020).

- :func:`run_warmup`: post-norm at depth and a high rate fails without warm-up and trains
  with it; pre-norm trains without. With Adam or with SGD (warm-up is not only an Adam trick).
- :func:`run_depth_sweep`: when post-norm trains (shallow, modest rate) it can end *lower*
  than pre-norm; as depth grows it falls behind or fails (Liu et al. 2020).

Every run trains the sorting transformer of :mod:`.norm_placement` over several seeds; the
seeds vary the initialisation, and all variants see the same minibatches (``data_seed``).
The runs use GELU and PyTorch's default init (:data:`TRAINING_SETUP`): in the hundred-odd
steps a lesson can afford, the paper's ReLU/Xavier stack at depth 8 barely leaves chance even
with warm-up (Adam 1e-2, 100 steps: 1.8–2.0 nats against pre-norm's 0.6–0.9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from ..data import Task, make_sort
from ..engine import map_side_by_side, train_side_by_side
from ..seeding import single_threaded
from ..training import TrainConfig, TrainResult
from ..validate import require_choice, require_int_tuple, require_positive_float, require_positive_int
from .norm_placement import PLACEMENT_ORDER, ModelSetup, sort_transformer

OPTIMIZERS = ("adam", "sgd")
CHANCE = math.log(10)  # cross-entropy of a uniform guess over the 10 digits
TRAINING_SETUP = ModelSetup(d_model=32, length=8, activation="gelu", init="default")


def _require_setup(setup: object) -> None:
    if not isinstance(setup, ModelSetup):
        raise TypeError(f"setup must be a ModelSetup, got {type(setup).__name__}")


def _test_loss(model: torch.nn.Module, task: Task) -> float:
    with torch.no_grad():
        logits = model(task.x_test)  # (n_test, seq, vocab)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), task.y_test.reshape(-1)).item()


Run = tuple[list[torch.nn.Module], TrainConfig | list[TrainConfig]]  # an engine run: (models, config)
VARIANTS = ("post", "post+warmup", "pre")  # post-norm without and with warm-up, pre-norm without


def _require_variants(variants: object) -> None:
    if not isinstance(variants, tuple) or not variants or len(set(variants)) < len(variants):
        raise TypeError(f"variants must be a non-empty tuple of distinct {VARIANTS}, got {variants!r}")
    for variant in variants:
        require_choice("variants", variant, VARIANTS)


@dataclass(frozen=True)
class WarmupConfig:
    """Post-norm at depth and a high rate, with and without a linear warm-up.

    docs/science.md's larger miniature (12 layers, d=64, 16 digits, Adam 5e-3, 300 steps) shows the
    same split; this one is small enough to train every variant and seed in a few seconds.
    """

    depth: int = 8
    optimizer: str = "adam"
    lr: float = 1e-2  # high for Adam on this task; SGD needs a far larger one
    momentum: float = 0.0  # sgd only
    steps: int = 100
    warmup_steps: int = 50  # linear, from lr / 50 up to lr
    batch_size: int = 16
    seeds: tuple[int, ...] = (0, 1, 2)
    data_seed: int = 0
    setup: ModelSetup = TRAINING_SETUP
    # the arms to train, of VARIANTS (lesson 6b's SGD check asks only whether post-norm needs a warm-up)
    variants: tuple[str, ...] = VARIANTS

    def __post_init__(self) -> None:
        _require_variants(self.variants)
        for name in ("depth", "steps", "batch_size", "warmup_steps"):
            require_positive_int(name, getattr(self, name))
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        require_positive_float("lr", self.lr)
        require_int_tuple("seeds", self.seeds)
        if self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps must be in 1..steps ({self.steps}), got {self.warmup_steps}")
        _require_setup(self.setup)

    def training(self, warmup_steps: int = 0) -> TrainConfig:
        """The :class:`~coursekit.TrainConfig` of a run with ``warmup_steps`` of warm-up."""
        return TrainConfig(
            steps=self.steps,
            lr=self.lr,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            momentum=self.momentum,
            warmup_steps=warmup_steps,
            log_every=max(1, self.steps // 10),
            seed=self.data_seed,
        )


# Warm-up with plain SGD (Xiong et al. ran SGD too): a rate at which post-norm without warm-up
# stays at chance. (At 100 steps with 50 of warm-up the warmed-up arm is still near chance,
# 2.0-2.2 nats: the split needs the 150.)
SGD_WARMUP = WarmupConfig(optimizer="sgd", lr=1.0, steps=150, warmup_steps=75, seeds=(0, 1, 2))


@dataclass
class WarmupResult:
    """Per variant (``"post"``, ``"post+warmup"``, ``"pre"``), one entry per seed: the loss
    curve, the final training loss (NaN if the run diverged) and the step it diverged at."""

    config: WarmupConfig
    loss_curves: dict[str, list[list[float]]] = field(default_factory=dict)
    final_loss: dict[str, list[float]] = field(default_factory=dict)
    diverged_at: dict[str, list[int | None]] = field(default_factory=dict)

    def loss_range(self, variant: str) -> tuple[float, float]:
        """(lowest, highest) final loss over the seeds; a diverged run counts as chance."""
        losses = [CHANCE if math.isnan(v) else v for v in self.final_loss[variant]]
        return min(losses), max(losses)

    def trained(self, variant: str, below: float = 0.5 * CHANCE) -> int:
        """How many seeds ended with a final loss below ``below`` (half of chance by default)."""
        return sum(1 for v in self.final_loss[variant] if v < below)


def _warmup_runs(config: WarmupConfig) -> tuple[list[str], list[Run]]:
    """The arms of ``config.variants`` in :data:`VARIANTS`' order, and the engine runs that train
    them: the post-norm arms stacked (their seeds within), pre-norm beside them."""
    plain, warm = config.training(), config.training(config.warmup_steps)
    seeds = list(config.seeds)
    arms = [v for v in VARIANTS if v in config.variants]
    post_arms = [v for v in arms if v != "pre"]
    runs: list[Run] = []
    if post_arms:
        post = [sort_transformer(config.depth, "post", config.setup, s) for _ in post_arms for s in seeds]
        runs.append((post, [plain if v == "post" else warm for v in post_arms for _ in seeds]))
    if "pre" in arms:
        runs.append(([sort_transformer(config.depth, "pre", config.setup, s) for s in seeds], plain))
    return arms, runs


def _warmup_result(config: WarmupConfig, arms: list[str], trained: list[TrainResult]) -> WarmupResult:
    result = WarmupResult(config)
    n = len(config.seeds)
    for i, variant in enumerate(arms):
        chunk = trained[i * n : (i + 1) * n]
        result.loss_curves[variant] = [r.loss for r in chunk]
        result.final_loss[variant] = [r.final_loss for r in chunk]
        result.diverged_at[variant] = [r.diverged_at for r in chunk]
    return result


@single_threaded
def run_warmup(config: WarmupConfig = WarmupConfig(), progress_bar: bool = True) -> WarmupResult:
    """Train the arms of ``config.variants`` at every seed (post-norm without and with warm-up,
    pre-norm without), in one engine call: the post-norm arms stacked, pre-norm beside them."""
    if not isinstance(config, WarmupConfig):
        raise TypeError(f"config must be a WarmupConfig, got {type(config).__name__}")
    task = make_sort(length=config.setup.length, seed=config.data_seed)
    arms, runs = _warmup_runs(config)
    trained = train_side_by_side(runs, task, progress_bar=progress_bar)
    return _warmup_result(config, arms, [r for run in trained for r in run])


@dataclass(frozen=True)
class DepthSweepConfig:
    """Post-norm against pre-norm by depth at one learning rate (Liu et al. 2020's table).

    ``steps``: one per depth. The shallow comparison needs 150 steps (at 100 post-norm's small
    win is gone: lower at 2 of 5 seeds); at 12 layers the gap is settled by 80 (post-norm behind
    at every one of 5 seeds, by more than at 100 or 150), so the deep runs, three quarters of the
    work, stop there (docs/science.md).
    """

    # (2 layers ended level too, 0.34 / 0.31 held-out: no more evidence than 4 layers, at a ninth of the cost)
    depths: tuple[int, ...] = (4, 12)
    optimizer: str = "adam"
    lr: float = 3e-3  # modest: no run diverges, with or without warm-up
    steps: tuple[int, ...] = (150, 80)  # one per depth
    warmup_steps: int = 0
    batch_size: int = 16
    seeds: tuple[int, ...] = (0, 1, 2)
    data_seed: int = 0
    setup: ModelSetup = TRAINING_SETUP

    def __post_init__(self) -> None:
        require_int_tuple("depths", self.depths, positive=True)
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        require_positive_float("lr", self.lr)
        require_int_tuple("steps", self.steps, positive=True)
        if len(self.steps) != len(self.depths):
            raise ValueError(f"steps must give one count per depth {self.depths}, got {self.steps}")
        require_positive_int("batch_size", self.batch_size)
        if not 0 <= self.warmup_steps <= min(self.steps):
            raise ValueError(
                f"warmup_steps must be in 0..{min(self.steps)} (the fewest steps), got {self.warmup_steps}"
            )
        require_int_tuple("seeds", self.seeds)
        _require_setup(self.setup)

    def training(self, steps: int) -> TrainConfig:
        """The :class:`~coursekit.TrainConfig` of a run of ``steps`` steps."""
        return TrainConfig(
            steps=steps,
            lr=self.lr,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            warmup_steps=self.warmup_steps,
            log_every=max(1, steps // 10),
            seed=self.data_seed,
        )


@dataclass
class DepthSweepResult:
    """``train_loss[norm][i][s]`` and ``test_loss[norm][i][s]`` at ``config.depths[i]``, seed ``s``
    (NaN where the run diverged); ``loss_curves[norm][i][s]``: that run's loss at every step."""

    config: DepthSweepConfig
    train_loss: dict[str, list[list[float]]] = field(default_factory=dict)
    test_loss: dict[str, list[list[float]]] = field(default_factory=dict)
    loss_curves: dict[str, list[list[list[float]]]] = field(default_factory=dict)

    def mean_test(self, norm: str) -> list[float]:
        """Mean held-out loss over seeds, one number per depth (a diverged run counts as chance)."""
        return [sum(CHANCE if math.isnan(v) else v for v in s) / len(s) for s in self.test_loss[norm]]

    def mean_train(self, norm: str) -> list[float]:
        """Mean final training loss over seeds, one number per depth (diverged: chance)."""
        return [sum(CHANCE if math.isnan(v) else v for v in s) / len(s) for s in self.train_loss[norm]]

    def post_wins(self, split: str = "test") -> list[int]:
        """Per depth: at how many seeds post-norm's loss (``"test"``: held-out, ``"train"``: final
        training loss) is lower than pre-norm's."""
        losses = require_choice("split", split, ("test", "train"))
        table = self.test_loss if losses == "test" else self.train_loss
        return [
            sum(1 for a, b in zip(post, pre, strict=True) if a < b)
            for post, pre in zip(table["post"], table["pre"], strict=True)
        ]


@single_threaded
def run_depth_sweep(
    config: DepthSweepConfig = DepthSweepConfig(), progress_bar: bool = True
) -> DepthSweepResult:
    """Train post- and pre-norm at every depth and seed, each depth for its own number of steps;
    record training and held-out loss. One engine call: per placement, the depths that share a
    step count train as one batched run, and all runs side by side."""
    task = make_sort(length=config.setup.length, seed=config.data_seed)
    counts = list(dict.fromkeys(config.steps))  # each distinct step count once, in order
    # (norm, steps) -> the (depth index, seed) of each model, and the models
    keys = [(norm, n) for norm in PLACEMENT_ORDER for n in counts]
    slots = {k: [(i, s) for i, n in enumerate(config.steps) if n == k[1] for s in config.seeds] for k in keys}
    models = {
        k: [sort_transformer(config.depths[i], k[0], config.setup, s) for i, s in slots[k]] for k in keys
    }
    runs = [(models[k], config.training(k[1])) for k in keys]
    trained = train_side_by_side(runs, task, progress_bar=progress_bar)
    result = DepthSweepResult(config)
    for norm in PLACEMENT_ORDER:
        result.train_loss[norm] = [[math.nan] * len(config.seeds) for _ in config.depths]
        result.test_loss[norm] = [[math.nan] * len(config.seeds) for _ in config.depths]
        result.loss_curves[norm] = [[[] for _ in config.seeds] for _ in config.depths]
    for k, runs_k in zip(keys, trained, strict=True):
        test_loss = map_side_by_side(
            lambda pair: math.nan if pair[1].diverged_at is not None else _test_loss(pair[0], task),
            list(zip(models[k], runs_k, strict=True)),
        )
        for (i, s), run, held_out in zip(slots[k], runs_k, test_loss, strict=True):
            j = config.seeds.index(s)
            result.train_loss[k[0]][i][j], result.test_loss[k[0]][i][j] = run.final_loss, held_out
            result.loss_curves[k[0]][i][j] = run.loss
    return result
