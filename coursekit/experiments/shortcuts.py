"""A clean identity shortcut beats scaled, gated and concatenated ones (He et al. 2016).

The digits net at depth with five shortcuts: none (plain), identity, ×0.5 scaled, gated
(Highway-style) and concatenate-then-project (a U-Net-style merge). None, identity and
scaled share a structure and train in one batched run; gated and concat train on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import load_digits
from ..probes import error_rate, parameter_counts
from ..seeding import seed_everything, single_threaded
from ..train import train_many
from .models import SHORTCUTS, BatchNormNet, DigitsRunConfig, digits_training


@dataclass(frozen=True)
class ShortcutConfig(DigitsRunConfig):
    """32 blocks, 10 epochs: deep enough for the shortcut to matter, short enough for 10 s."""

    depth: int = 32
    epochs: int = 10


@dataclass
class ShortcutResult:
    """Per shortcut: loss curve, final training loss, training error (%) and parameter count."""

    config: ShortcutConfig
    loss_curves: dict[str, list[float]]
    final_loss: dict[str, float]
    train_error: dict[str, float]
    parameters: dict[str, int]


@single_threaded
def run_shortcuts(config: ShortcutConfig = ShortcutConfig(), progress: bool = True) -> ShortcutResult:
    """Train the net with every shortcut from the same seed; return losses, errors, sizes."""
    task = load_digits(seed=0)
    train = digits_training(config.epochs, config.batch_size, config.lr, task.n_train, config.seed)
    models = {}
    for shortcut in SHORTCUTS:
        seed_everything(config.seed)
        models[shortcut] = BatchNormNet(config.depth, config.width, shortcut=shortcut)
    groups = [("none", "identity", "scaled"), ("gated",), ("concat",)]
    runs = {}
    for group in groups:
        runs.update(
            zip(group, train_many([models[s] for s in group], task, train, progress=progress), strict=True)
        )
    return ShortcutResult(
        config,
        loss_curves={s: runs[s].loss for s in SHORTCUTS},
        final_loss={s: runs[s].final_loss for s in SHORTCUTS},
        train_error={s: 100 * error_rate(models[s], task.x_train, task.y_train) for s in SHORTCUTS},
        parameters={s: parameter_counts(models[s])["total"] for s in SHORTCUTS},
    )
