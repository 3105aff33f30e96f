"""Residual nets behave like ensembles: deleting one block barely hurts (Veit et al. 2016).

A plain and a residual 12-block digits net are trained together; then each block in turn is
deleted at test time (replaced by the identity) and the test error measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import load_digits
from ..probes import error_rate, lesion
from ..seeding import seed_everything, single_threaded
from ..train import train_many
from .models import BatchNormNet, DigitsRunConfig, digits_training


@dataclass(frozen=True)
class LesionConfig(DigitsRunConfig):
    """12 blocks, trained 30 epochs: long enough for the residual net to spread its work."""

    depth: int = 12
    epochs: int = 30


@dataclass
class LesionResult:
    """Test error in %: ``baseline[kind]`` intact, ``deleted[kind][k]`` with block k deleted."""

    config: LesionConfig
    baseline: dict[str, float]
    deleted: dict[str, list[float]]


@single_threaded
def run_lesion(config: LesionConfig = LesionConfig(), progress: bool = True) -> LesionResult:
    """Train plain and residual nets (same seed, one batched run), then lesion every block."""
    task = load_digits(seed=0)
    models = {}
    for kind, shortcut in (("plain", "none"), ("residual", "identity")):
        seed_everything(config.seed)
        models[kind] = BatchNormNet(config.depth, config.width, shortcut=shortcut)
    train = digits_training(config.epochs, config.batch_size, config.lr, task.n_train, config.seed)
    train_many(list(models.values()), task, train, progress=progress)
    x, y = task.x_test, task.y_test
    return LesionResult(
        config,
        baseline={k: 100 * error_rate(m, x, y) for k, m in models.items()},
        deleted={k: [100 * lesion(m, x, y, i) for i in range(config.depth)] for k, m in models.items()},
    )
