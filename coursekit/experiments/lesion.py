"""Residual nets behave like ensembles: deleting one block barely hurts (Veit et al. 2016).

Plain and residual twins of the degradation sweep (:mod:`.degradation`), trained together for
several seeds; then each block in turn is deleted at test time (replaced by the identity)
and the test error measured. A residual stream flows on past the gap; in a plain net the next
block receives what the deleted one was given, and the chain breaks. Veit et al. also deleted
several blocks at once (error rising smoothly with the number deleted, their evidence for an
ensemble of paths); :attr:`LesionResult.several` measures that too.

The nets' BatchNorms use the test batch's own statistics (``track_running_stats=False``), so a
deleted block's successors renormalise what they receive: a kinder test than Veit et al.'s,
whose nets used running averages at test time.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from itertools import combinations

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data import load_digits
from ..engine import train_many
from ..measures import find_blocks
from ..probes import error_rate, lesion
from ..seeding import single_threaded
from ..validate import require_int_tuple, require_positive_float, require_positive_int
from .degradation import DegradationConfig, DegradationResult, skip_twins
from .models import SKIP_ARMS


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
    several: tuple[int, ...] = (2, 4)  # also delete sets of this many blocks at once
    sets: int = 12  # sets deleted per size (drawn once, the same for every net)

    def __post_init__(self) -> None:
        for name in ("depth", "width", "layers_per_block", "epochs", "batch_size", "sets"):
            require_positive_int(name, getattr(self, name))
        require_int_tuple("seeds", self.seeds)
        require_positive_float("lr", self.lr)
        if self.several:
            require_int_tuple("several", self.several, positive=True)
            if max(self.several) > self.depth:
                raise ValueError(f"several: cannot delete {max(self.several)} of {self.depth} blocks")

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
    """Test error in %, averaged over seeds: ``baseline[arm]`` intact, ``deleted[arm][k]`` with
    block k deleted; ``*_by_seed`` hold each seed's numbers (``deleted_by_seed[arm][seed][k]``);
    ``several[arm][n][seed]`` is the mean test error over ``config.sets`` sets of ``n`` blocks
    deleted at once (``n`` in ``config.several``)."""

    config: LesionConfig
    baseline: dict[str, float]
    deleted: dict[str, list[float]]
    baseline_by_seed: dict[str, list[float]] = field(default_factory=dict)
    deleted_by_seed: dict[str, list[list[float]]] = field(default_factory=dict)
    several: dict[str, dict[int, list[float]]] = field(default_factory=dict)

    def damage_range(self, arm: str, skip_first: bool = False) -> tuple[float, float]:
        """``(lowest, highest)`` over seeds of the mean rise in test error (points of %) when one
        block is deleted; ``skip_first`` leaves out block 0, which feeds on the stem directly."""
        start = 1 if skip_first else 0
        rises = [
            sum(row[start:]) / len(row[start:]) - base
            for row, base in zip(self.deleted_by_seed[arm], self.baseline_by_seed[arm], strict=True)
        ]
        return min(rises), max(rises)


def delete_blocks(model: nn.Module, ks: tuple[int, ...]) -> nn.Module:
    """A copy of ``model`` with the blocks ``ks`` replaced by the identity."""
    damaged = copy.deepcopy(model)
    blocks = find_blocks(damaged)[1]
    for k in ks:
        blocks[k] = nn.Identity()
    return damaged


def _block_sets(depth: int, n: int, count: int) -> list[tuple[int, ...]]:
    """``count`` sets of ``n`` block indices out of ``depth`` (all of them if there are fewer),
    drawn with a fixed generator so every net loses the same blocks."""
    every = list(combinations(range(depth), n))
    if len(every) <= count:
        return every
    order = torch.randperm(len(every), generator=torch.Generator().manual_seed(0))[:count]
    return [every[i] for i in sorted(order.tolist())]


def _trained_twins(
    config: LesionConfig, progress_bar: bool, sweep: DegradationResult | None
) -> list[dict[str, nn.Module]]:
    """Per seed ``{arm: trained net}``: taken from ``sweep`` when it trained these very nets
    (same training, seeds and depth), else trained here in one batched run."""
    if sweep is not None:
        same = replace(config.sweep(), depths=sweep.config.depths) == sweep.config
        if not same or config.depth not in sweep.config.depths or not sweep.nets:
            raise ValueError("sweep must be a DegradationResult trained as config.sweep(), with config.depth")
        i = sweep.config.depths.index(config.depth)
        return [{k: sweep.nets[k][i][s] for k in SKIP_ARMS} for s in range(len(config.seeds))]
    task = load_digits()
    train = config.sweep().training(task.n_train)
    twins = [skip_twins(config.depth, s, config.width, config.layers_per_block) for s in config.seeds]
    train_many([t[k] for t in twins for k in SKIP_ARMS], task, train, progress_bar=progress_bar)
    return twins


@single_threaded
def run_lesion(
    config: LesionConfig = LesionConfig(),
    progress_bar: bool = True,
    sweep: DegradationResult | None = None,
) -> LesionResult:
    """Train plain and residual twins (every seed, one batched run), or take them from ``sweep``
    (a :func:`~coursekit.experiments.run_degradation` result of the same training), then lesion
    every block, then ``config.sets`` sets of each size in ``config.several``."""
    if not isinstance(config, LesionConfig):
        raise TypeError(f"config must be a LesionConfig, got {type(config).__name__}")
    task = load_digits()
    twins = _trained_twins(config, progress_bar, sweep)
    x, y = task.x_test, task.y_test
    sets = {n: _block_sets(config.depth, n, config.sets) for n in config.several}
    per_net = config.depth + sum(len(v) for v in sets.values())
    baseline = {k: [100 * error_rate(t[k], x, y) for t in twins] for k in SKIP_ARMS}
    deleted: dict[str, list[list[float]]] = {k: [] for k in SKIP_ARMS}
    several: dict[str, dict[int, list[float]]] = {k: {n: [] for n in config.several} for k in SKIP_ARMS}
    with tqdm(
        total=len(twins) * len(SKIP_ARMS) * per_net, desc="deleting blocks", disable=not progress_bar
    ) as bar:
        for t in twins:
            for k in SKIP_ARMS:
                deleted[k].append([100 * lesion(t[k], x, y, i) for i in range(config.depth)])
                bar.update(config.depth)
                for n, chosen in sets.items():
                    errors = [100 * error_rate(delete_blocks(t[k], ks), x, y) for ks in chosen]
                    several[k][n].append(sum(errors) / len(errors))
                    bar.update(len(chosen))
    n = len(config.seeds)
    return LesionResult(
        config,
        baseline={k: sum(v) / n for k, v in baseline.items()},
        deleted={k: [sum(col) / n for col in zip(*rows, strict=True)] for k, rows in deleted.items()},
        baseline_by_seed=baseline,
        deleted_by_seed=deleted,
        several=several,
    )
