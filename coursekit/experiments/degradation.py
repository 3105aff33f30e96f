"""Degradation: deeper plain nets train *worse*; residual nets do not (He et al. 2015).

The same BatchNorm+ReLU MLP on the digits, with and without identity shortcuts, at several
depths and seeds. Each block is He et al.'s basic block in MLP form, two weighted layers with
the shortcut around both:

    out = relu(skip * x + BN(W2 relu(BN(W1 x))))        skip = 0 (plain) or 1 (residual)

``skip`` is a buffer, so a plain net and its residual twin have the same parameters, built
from the same seed, and train together in one batched run. The trainer also records the
gradient norm of every block along the way: BatchNorm keeps the plain nets' gradients far from
vanishing, yet they train worse, so what the shortcut fixes is optimisation.

Settings (measured on 2 CPU cores, see docs/science.md's "Degradation" row): plain SGD at lr 0.5,
about the step of SGD with lr 0.05 and momentum 0.9, 20 epochs, 4 / 8 / 12 / 16 blocks
(10 / 18 / 26 / 34 weighted layers). Plain SGD keeps a run the same when it is cut into
pieces, which the live widget of lesson 5 does (:func:`train_twins_live`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from torch import nn

from ..data import load_digits, probe_batch
from ..engine import train_depth_sweep, train_many
from ..probes import error_rate, grad_norms_by_layer, parameter_counts
from ..seeding import seed_everything, single_threaded, torch_threads
from ..training import TrainConfig
from ..validate import require_int_tuple, require_positive_float, require_positive_int
from .models import SKIP_ARMS, BatchNormNet


def skip_twins(
    depth: int, seed: int = 0, width: int = 64, layers_per_block: int = 2
) -> dict[str, BatchNormNet]:
    """``{"plain": ..., "residual": ...}``: the same net of He et al.'s basic blocks
    (:class:`~coursekit.experiments.models.BatchNormNet` with ``post_relu``) without and with
    skips (``shortcut="none"`` and ``"identity"``), same parameters, same initial weights."""
    twins = {}
    for arm, shortcut in zip(SKIP_ARMS, ("none", "identity"), strict=True):
        seed_everything(seed)  # same seed, same init for the plain and residual twin
        twins[arm] = BatchNormNet(
            depth, width, shortcut=shortcut, layers_per_block=layers_per_block, post_relu=True
        )
    return twins


@dataclass(frozen=True)
class DegradationConfig:
    """The depth sweep: ``depths`` in blocks of ``layers_per_block`` weighted layers each.

    The defaults make the plain curve rise over four depths in about 10 s on one core.
    """

    depths: tuple[int, ...] = (4, 8, 12, 16)
    seeds: tuple[int, ...] = (0, 1, 2)
    width: int = 64
    layers_per_block: int = 2  # He et al.'s basic block; 1 gives a sharper, later cliff
    lr: float = 0.5  # plain SGD; about lr 0.05 with momentum 0.9
    momentum: float = 0.0
    epochs: int = 20
    batch_size: int = 128

    def __post_init__(self) -> None:
        require_int_tuple("depths", self.depths, positive=True)
        require_int_tuple("seeds", self.seeds)
        require_positive_int("width", self.width)
        require_positive_int("layers_per_block", self.layers_per_block)
        require_positive_float("lr", self.lr)
        if isinstance(self.momentum, bool) or not isinstance(self.momentum, (int, float)):
            raise TypeError(f"momentum must be a number in [0, 1), got {self.momentum!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        require_positive_int("epochs", self.epochs)
        require_positive_int("batch_size", self.batch_size)

    @property
    def layers(self) -> tuple[int, ...]:
        """Weighted layers at each depth: the blocks' plus the stem and the head."""
        return tuple(d * self.layers_per_block + 2 for d in self.depths)

    def training(self, n_train: int, seed: int = 0, epochs: int | None = None) -> TrainConfig:
        """The :class:`~coursekit.TrainConfig` of ``epochs`` (default: all) passes, ten logs."""
        if self.batch_size > n_train:
            raise ValueError(
                f"batch_size ({self.batch_size}) must not exceed the {n_train} training examples"
            )
        steps = (self.epochs if epochs is None else epochs) * (n_train // self.batch_size)
        return TrainConfig(
            steps=steps,
            lr=self.lr,
            batch_size=self.batch_size,
            momentum=self.momentum,
            log_every=max(1, steps // 10),
            seed=seed,
        )


@dataclass
class DegradationResult:
    """Per arm (``"plain"``, ``"residual"``), indexed ``[depth][seed]`` unless said otherwise.

    ``train_error`` and ``test_error`` are in % after training (the whole training set, the
    held-out quarter); ``final_loss`` the mean training loss over the last tenth of the steps;
    ``loss_curves[arm][depth]`` (one loss per step) and ``grad_norms[arm][depth]``
    (``[logged step][block]``) are the first seed's, ``seed_grad_norms[arm][depth][seed]``
    every seed's; ``parameters[depth]`` is the count, the same for both arms.
    ``nets[arm][depth][seed]`` are the trained nets themselves (lesson 5's lesion reuses them).
    """

    config: DegradationConfig
    train_error: dict[str, list[list[float]]] = field(default_factory=dict)
    test_error: dict[str, list[list[float]]] = field(default_factory=dict)
    final_loss: dict[str, list[list[float]]] = field(default_factory=dict)
    loss_curves: dict[str, list[list[float]]] = field(default_factory=dict)
    grad_norms: dict[str, list[list[list[float]]]] = field(default_factory=dict)
    seed_grad_norms: dict[str, list[list[list[list[float]]]]] = field(default_factory=dict)
    parameters: list[int] = field(default_factory=list)
    steps_logged: list[int] = field(default_factory=list)
    diverged: int = 0  # number of runs stopped by a NaN/Inf loss
    nets: dict[str, list[list[nn.Module]]] = field(default_factory=dict, repr=False)

    def mean_error(self, arm: str) -> list[float]:
        """Training error in %, averaged over seeds, one number per depth."""
        return [sum(row) / len(row) for row in self.train_error[arm]]

    def error_range(self, arm: str) -> list[tuple[float, float]]:
        """Training error in %, ``(lowest, highest)`` over seeds, one pair per depth."""
        return [(min(row), max(row)) for row in self.train_error[arm]]


@single_threaded
def run_degradation(
    config: DegradationConfig = DegradationConfig(), progress_bar: bool = True
) -> DegradationResult:
    """Train plain and residual nets at every depth and seed; return the errors and curves."""
    if not isinstance(config, DegradationConfig):
        raise TypeError(f"config must be a DegradationConfig, got {type(config).__name__}")
    task = load_digits()
    train = config.training(task.n_train)
    result = DegradationResult(config)
    tables = (
        result.train_error,
        result.test_error,
        result.final_loss,
        result.loss_curves,
        result.grad_norms,
        result.seed_grad_norms,
    )
    for arm in SKIP_ARMS:
        for table in tables:
            table[arm] = []
    nets = [  # per depth: (arm, net) for every seed and twin
        [
            (arm, model)
            for seed in config.seeds
            for arm, model in skip_twins(depth, seed, config.width, config.layers_per_block).items()
        ]
        for depth in config.depths
    ]
    # every depth, seed and twin in one batched run (block i runs only for the nets deeper than i)
    trained = train_depth_sweep(
        [m for group in nets for _, m in group], task, train, progress_bar=progress_bar
    )
    for group in nets:
        models, labels = [m for _, m in group], [k for k, _ in group]
        runs, trained = trained[: len(models)], trained[len(models) :]
        result.parameters.append(parameter_counts(models[0])["total"])
        for arm in SKIP_ARMS:
            pairs = [(m, r) for m, r, k in zip(models, runs, labels, strict=True) if k == arm]
            result.train_error[arm].append(
                [100 * error_rate(m, task.x_train, task.y_train) for m, _ in pairs]
            )
            result.test_error[arm].append([100 * error_rate(m, task.x_test, task.y_test) for m, _ in pairs])
            result.final_loss[arm].append([r.final_loss for _, r in pairs])
            result.loss_curves[arm].append(pairs[0][1].loss)
            result.grad_norms[arm].append(pairs[0][1].grad_norms)
            result.seed_grad_norms[arm].append([r.grad_norms for _, r in pairs])
            result.nets.setdefault(arm, []).append([m for m, _ in pairs])
        result.steps_logged = runs[0].steps_logged
        result.diverged += sum(r.diverged_at is not None for r in runs)
    return result


@dataclass(frozen=True)
class LiveSnapshot:
    """The live run so far: ``loss[arm]`` one loss per step taken, ``epoch`` of ``epochs``."""

    depth: int
    epoch: int
    epochs: int
    loss: dict[str, list[float]]
    train_error: dict[str, float]  # % on the training set at this point

    @property
    def done(self) -> bool:
        return self.epoch >= self.epochs


def train_twins_live(
    depth: int,
    epochs: int,
    arms: tuple[str, ...] = SKIP_ARMS,
    seed: int = 0,
    pieces: int = 5,
    config: DegradationConfig = DegradationConfig(),
) -> Iterator[LiveSnapshot]:
    """Train the plain and/or residual twin of ``depth`` blocks in ``pieces`` pieces of whole
    epochs, yielding a :class:`LiveSnapshot` after each: what a live plot draws.

    With plain SGD (``config.momentum == 0``) the pieces add up to one ordinary run: the
    optimiser keeps no state between steps, and each piece reshuffles the digits as an epoch does.
    Each piece runs on one thread (a generator cannot hold the setting across its yields).
    """
    require_positive_int("depth", depth)
    require_positive_int("epochs", epochs)
    require_positive_int("pieces", pieces)
    if not arms or any(k not in SKIP_ARMS for k in arms):
        raise ValueError(f"arms must name some of {SKIP_ARMS}, got {arms!r}")
    if config.momentum:
        raise ValueError("train_twins_live needs plain SGD (momentum=0): momentum would restart every piece")
    task = load_digits()
    with torch_threads(1):
        twins = skip_twins(depth, seed, config.width, config.layers_per_block)
    models = [twins[k] for k in arms]
    loss: dict[str, list[float]] = {k: [] for k in arms}
    bounds = [round(epochs * (i + 1) / pieces) for i in range(pieces)]
    done = 0
    for i, end in enumerate(bounds):
        if end == done:
            continue
        train = config.training(task.n_train, seed=1000 * seed + i, epochs=end - done)
        with torch_threads(1):
            runs = train_many(models, task, train, progress_bar=False)
            errors = {
                k: 100 * error_rate(m, task.x_train, task.y_train) for k, m in zip(arms, models, strict=True)
            }
        for arm, run in zip(arms, runs, strict=True):
            loss[arm].extend(run.loss)
        done = end
        yield LiveSnapshot(depth, done, epochs, {k: list(v) for k, v in loss.items()}, errors)


@single_threaded
def grad_norms_at_init(depth: int, width: int = 64, seed: int = 0) -> dict[str, list[float]]:
    """Gradient norm of each block at initialisation, plain and residual, on 512 digits.

    The one-layer-per-block :class:`~coursekit.experiments.BatchNormNet` (no ``post_relu``) of the
    start-here notebook and lesson 1.
    """
    task = load_digits()
    x, y = probe_batch(task)
    out = {}
    for arm in SKIP_ARMS:
        seed_everything(seed)
        model = BatchNormNet(depth, width, shortcut="none" if arm == "plain" else "identity")
        out[arm] = grad_norms_by_layer(model, x, y)
    return out
