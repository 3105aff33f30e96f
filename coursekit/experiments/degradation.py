"""Degradation: deeper plain nets train *worse*; residual nets do not (He et al. 2015).

The same BatchNorm+ReLU MLP on the digits, with and without identity shortcuts, at several
depths and seeds. Each depth's variants (plain and residual, every seed) train together in
one batched run. The gradient norms by block are recorded too: BatchNorm keeps the plain
nets' gradients "healthy", so what fails is optimisation, not gradient flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..data import load_digits
from ..probes import error_rate, grad_norms_by_layer
from ..seeding import seed_everything, single_threaded
from ..train import train_many
from ..validate import require_int_tuple, require_positive_float, require_positive_int
from .models import BatchNormNet, digits_training

KINDS = ("plain", "residual")


@dataclass(frozen=True)
class DegradationConfig:
    """The depth sweep. SCIENCE.md's miniature used depths 6/22/52; 6/20/40 fits 20 s on 2 cores."""

    depths: tuple[int, ...] = (6, 20, 40)
    seeds: tuple[int, ...] = (0, 1)
    width: int = 64
    lr: float = 0.05  # plain SGD, as in SCIENCE.md
    epochs: int = 25  # SCIENCE.md's 30, trimmed to fit the sweep in 20 s
    batch_size: int = 128

    def __post_init__(self) -> None:
        require_int_tuple("depths", self.depths, positive=True)
        require_int_tuple("seeds", self.seeds)
        require_positive_int("width", self.width)
        require_positive_float("lr", self.lr)
        require_positive_int("epochs", self.epochs)
        require_positive_int("batch_size", self.batch_size)


@dataclass
class DegradationResult:
    """Per kind (``"plain"``, ``"residual"``), indexed ``[depth][seed]`` unless said otherwise.

    ``train_error`` is in % on the whole training set after training; ``final_loss`` the
    mean training loss over the last tenth of the steps; ``loss_curves[kind][depth]`` and
    ``grad_norms[kind][depth]`` (``[logged step][block]``) are the first seed's.
    """

    config: DegradationConfig
    train_error: dict[str, list[list[float]]] = field(default_factory=dict)
    final_loss: dict[str, list[list[float]]] = field(default_factory=dict)
    loss_curves: dict[str, list[list[float]]] = field(default_factory=dict)
    grad_norms: dict[str, list[list[list[float]]]] = field(default_factory=dict)
    steps_logged: list[int] = field(default_factory=list)
    diverged: int = 0  # number of runs stopped by a NaN/Inf loss

    def mean_error(self, kind: str) -> list[float]:
        """Training error in %, averaged over seeds, one number per depth."""
        return [sum(row) / len(row) for row in self.train_error[kind]]


@single_threaded
def run_degradation(
    config: DegradationConfig = DegradationConfig(), progress: bool = True
) -> DegradationResult:
    """Train plain and residual nets at every depth and seed; return the errors and curves."""
    if not isinstance(config, DegradationConfig):
        raise TypeError(f"config must be a DegradationConfig, got {type(config).__name__}")
    task = load_digits(seed=0)
    train = digits_training(config.epochs, config.batch_size, config.lr, task.n_train)
    result = DegradationResult(config)
    for kind in KINDS:
        for table in (result.train_error, result.final_loss, result.loss_curves, result.grad_norms):
            table[kind] = []
    for depth in config.depths:
        models, labels = [], []
        for seed in config.seeds:
            for kind in KINDS:
                seed_everything(seed)  # same seed, same init for the plain and residual twin
                models.append(
                    BatchNormNet(depth, config.width, shortcut="none" if kind == "plain" else "identity")
                )
                labels.append((kind, seed))
        runs = train_many(models, task, train, progress=progress)
        for kind in KINDS:
            pairs = [(m, r) for m, r, (k, _) in zip(models, runs, labels, strict=True) if k == kind]
            result.train_error[kind].append(
                [100 * error_rate(m, task.x_train, task.y_train) for m, _ in pairs]
            )
            result.final_loss[kind].append([r.final_loss for _, r in pairs])
            result.loss_curves[kind].append(pairs[0][1].loss)
            result.grad_norms[kind].append(pairs[0][1].grad_norms)
        result.steps_logged = runs[0].steps_logged
        result.diverged += sum(r.diverged_at is not None for r in runs)
    return result


@single_threaded
def grad_norms_at_init(depth: int, width: int = 64, seed: int = 0) -> dict[str, list[float]]:
    """Gradient norm of each block at initialisation, plain and residual, on 512 digits."""
    task = load_digits(seed=0)
    x, y = task.x_train[:512], task.y_train[:512]
    out = {}
    for kind in KINDS:
        seed_everything(seed)
        model = BatchNormNet(depth, width, shortcut="none" if kind == "plain" else "identity")
        out[kind] = grad_norms_by_layer(model, x, y)
    return out
