"""What the engine trains: jobs, each one stacked computation, checked before any step runs.

A :class:`Job` is models of one :func:`~.contract.structure` (:func:`stack_job`), or of one
layout and several depths, stacked deepest first (:func:`sweep_job`), with their configs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from ..measures import block_prefixes, find_blocks
from ..training import TrainConfig
from .contract import structure, takes_active

# what variants trained together must share (they may differ in lr, warmup_steps, schedule)
SHARED = ("steps", "batch_size", "optimizer", "momentum", "betas", "eps", "log_every", "seed")

Run = tuple[Sequence[nn.Module], TrainConfig | Sequence[TrainConfig]]  # (models, config)


@dataclass
class Job:
    """One stacked computation: models of one structure, or (a depth sweep) of one layout and
    several depths, stacked deepest first. ``numbers[v]``: where stacked model ``v`` sits in the
    caller's list."""

    models: list[nn.Module]
    numbers: list[int]
    configs: list[TrainConfig]
    base: TrainConfig
    depths: list[int] | None = None  # a depth sweep: each model's number of blocks

    @property
    def work(self) -> list[int]:
        """Each variant's parameter count times its steps: what the threads' shares are measured
        in (jobs of different lengths side by side; for jobs of one length, the parameter count's
        shares)."""
        return [sum(p.numel() for p in m.parameters()) * self.base.steps for m in self.models]


def check_configs(configs: Sequence[TrainConfig]) -> TrainConfig:
    """The configs' shared settings (the first config), once every config is a
    :class:`TrainConfig` that differs from it in :data:`SHARED` nowhere."""
    base = configs[0]
    for c in configs:
        if not isinstance(c, TrainConfig):
            raise TypeError(f"configs must be TrainConfig objects, got {type(c).__name__}")
        if any(getattr(c, name) != getattr(base, name) for name in SHARED):
            raise ValueError(
                "variants trained together may differ only in lr, warmup_steps and schedule; "
                f"got {c} and {base}"
            )
    return base


def configs_for(models: list[nn.Module], config: TrainConfig | Sequence[TrainConfig]) -> list[TrainConfig]:
    """One config per model: ``config`` for all, or the list, checked for its length."""
    configs = [config] * len(models) if isinstance(config, TrainConfig) else list(config)
    if len(configs) != len(models):
        raise ValueError(f"got {len(configs)} configs for {len(models)} models")
    return configs


def require_models(models: Sequence[nn.Module]) -> list[nn.Module]:
    """``models`` as a list of one or more ``torch.nn.Module`` s."""
    models = list(models)
    if not models:
        raise ValueError("models must contain at least one model")
    for m in models:
        if not isinstance(m, nn.Module):
            raise TypeError(f"models must be torch.nn.Module objects, got {type(m).__name__}")
    return models


def stack_job(models: Sequence[nn.Module], config: TrainConfig | Sequence[TrainConfig]) -> Job:
    """A job of models of one structure, in the caller's order."""
    models = require_models(models)
    if len({structure(m) for m in models}) > 1:
        raise ValueError("all models of one run must share one structure (class, modules, shapes)")
    configs = configs_for(models, config)
    return Job(models, list(range(len(models))), configs, check_configs(configs))


def structure_jobs(
    models: Sequence[nn.Module], config: TrainConfig | Sequence[TrainConfig]
) -> tuple[list[Job], list[list[int]]]:
    """:func:`~coursekit.engine.train_many`'s jobs: one :func:`stack_job` per structure among
    ``models`` (in the order each first appears), and where each job's models sit in ``models``.
    Every config shares :data:`SHARED`, whichever job its model lands in."""
    models = require_models(models)
    configs = configs_for(models, config)
    check_configs(configs)
    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(models):
        groups.setdefault(structure(m), []).append(i)
    positions = list(groups.values())
    return [
        stack_job([models[i] for i in where], [configs[i] for i in where]) for where in positions
    ], positions


def _require_one_layout(ordered: list[nn.Module], depths: list[int]) -> None:
    """Refuse a sweep whose models (deepest first, ``depths`` blocks each) are not one class
    and layout differing only in their number of blocks."""
    deepest = ordered[0]
    prefixes = block_prefixes(deepest)
    full = dict(deepest.named_parameters()) | dict(deepest.named_buffers())
    for m, depth in zip(ordered, depths, strict=True):
        own = dict(m.named_parameters()) | dict(m.named_buffers())
        beyond = tuple(prefixes[depth:])
        wrong = [n for n, t in own.items() if n not in full or full[n].shape != t.shape]
        missing = [n for n in full if n not in own and not n.startswith(beyond)]
        if type(m) is not type(deepest) or wrong or missing:
            raise ValueError(
                "models in a depth sweep must be one class and layout, differing only in their number "
                f"of blocks; {type(m).__name__} of depth {depth} differs in {(wrong + missing)[:3]}"
            )


def sweep_job(models: Sequence[nn.Module], config: TrainConfig | Sequence[TrainConfig]) -> Job:
    """A :func:`~coursekit.engine.train_depth_sweep` job: one class and layout, several depths,
    deepest first."""
    models = require_models(models)
    configs = configs_for(models, config)
    base = check_configs(configs)
    depths = [len(find_blocks(m)[1]) for m in models]
    order = sorted(range(len(models)), key=lambda v: -depths[v])  # deepest first, else as given
    ordered = [models[v] for v in order]
    if not takes_active(ordered[0]):
        raise TypeError(
            f"{type(ordered[0]).__name__}.forward_stacked must take active= to train a depth sweep"
        )
    _require_one_layout(ordered, [depths[v] for v in order])
    return Job(ordered, order, [configs[v] for v in order], base, [depths[v] for v in order])


def _depths_differ(models: list[nn.Module]) -> bool:
    """Whether the models have ``blocks`` lists of more than one length (a depth sweep)."""
    try:
        return len({len(find_blocks(m)[1]) for m in models}) > 1
    except ValueError:  # no blocks
        return False


def side_by_side_jobs(runs: Sequence[Run]) -> list[Job]:
    """One job per run ``(models, config)``: a sweep job where its models' depths differ."""
    jobs = []
    for run in runs:
        if not (isinstance(run, tuple) and len(run) == 2):
            raise TypeError(f"each run must be a (models, config) pair, got {type(run).__name__}")
        models, config = run
        models = require_models(models)
        jobs.append(sweep_job(models, config) if _depths_differ(models) else stack_job(models, config))
    if not jobs:
        raise ValueError("runs must contain at least one (models, config) pair")
    return jobs
