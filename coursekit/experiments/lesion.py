"""Residual nets behave like ensembles: deleting one block barely hurts (Veit et al. 2016).

Plain and residual twins of the degradation sweep (:mod:`.degradation`), trained together for
several seeds; then each block in turn is deleted at test time (replaced by the identity)
and the test error measured. A residual stream flows on past the gap; in a plain net the next
block receives what the deleted one was given, and the chain breaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..data import load_digits
from ..engine import train_many
from ..probes import error_rate, lesion
from ..seeding import single_threaded
from ..validate import require_int_tuple, require_positive_float, require_positive_int
from .degradation import KINDS, DegradationConfig, skip_twins


@dataclass(frozen=True)
class LesionConfig:
    """8 blocks of two layers (18 weighted layers): deep enough for the lesson's contrast, shallow
    enough that the plain net still trains (about 1–4 % training error), trained as the sweep."""

    depth: int = 8
    seeds: tuple[int, ...] = (0, 1, 2)
    width: int = 64
    layers_per_block: int = 2
    lr: float = 0.5
    epochs: int = 20
    batch_size: int = 128

    def __post_init__(self) -> None:
        for name in ("depth", "width", "layers_per_block", "epochs", "batch_size"):
            require_positive_int(name, getattr(self, name))
        require_int_tuple("seeds", self.seeds)
        require_positive_float("lr", self.lr)

    def sweep(self) -> DegradationConfig:
        """The same training as a :class:`DegradationConfig` of this one depth."""
        return DegradationConfig(
            depths=(self.depth,),
            seeds=self.seeds,
            width=self.width,
            layers_per_block=self.layers_per_block,
            lr=self.lr,
            epochs=self.epochs,
            batch_size=self.batch_size,
        )


@dataclass
class LesionResult:
    """Test error in %, averaged over seeds: ``baseline[kind]`` intact, ``deleted[kind][k]`` with
    block k deleted; ``*_by_seed`` hold each seed's numbers (``deleted_by_seed[kind][seed][k]``)."""

    config: LesionConfig
    baseline: dict[str, float]
    deleted: dict[str, list[float]]
    baseline_by_seed: dict[str, list[float]] = field(default_factory=dict)
    deleted_by_seed: dict[str, list[list[float]]] = field(default_factory=dict)

    def damage_range(self, kind: str, skip_first: bool = False) -> tuple[float, float]:
        """``(lowest, highest)`` over seeds of the mean rise in test error (points of %) when one
        block is deleted; ``skip_first`` leaves out block 0, which feeds on the stem directly."""
        start = 1 if skip_first else 0
        rises = [
            sum(row[start:]) / len(row[start:]) - base
            for row, base in zip(self.deleted_by_seed[kind], self.baseline_by_seed[kind], strict=True)
        ]
        return min(rises), max(rises)


@single_threaded
def run_lesion(config: LesionConfig = LesionConfig(), progress_bar: bool = True) -> LesionResult:
    """Train plain and residual twins (every seed, one batched run), then lesion every block."""
    if not isinstance(config, LesionConfig):
        raise TypeError(f"config must be a LesionConfig, got {type(config).__name__}")
    task = load_digits()
    sweep = config.sweep()
    train = sweep.training(task.n_train)
    twins = [skip_twins(config.depth, s, config.width, config.layers_per_block) for s in config.seeds]
    train_many([t[k] for t in twins for k in KINDS], task, train, progress_bar=progress_bar)
    x, y = task.x_test, task.y_test
    baseline = {k: [100 * error_rate(t[k], x, y) for t in twins] for k in KINDS}
    deleted = {k: [[100 * lesion(t[k], x, y, i) for i in range(config.depth)] for t in twins] for k in KINDS}
    n = len(config.seeds)
    return LesionResult(
        config,
        baseline={k: sum(v) / n for k, v in baseline.items()},
        deleted={k: [sum(col) / n for col in zip(*rows, strict=True)] for k, rows in deleted.items()},
        baseline_by_seed=baseline,
        deleted_by_seed=deleted,
    )
