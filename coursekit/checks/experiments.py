"""Check that a skip-versus-no-skip comparison is fair: the two arms differ only in the skips.

A comparison is only evidence if everything else is equal. The learner passes both arms'
models (before training) and training configurations; the check finds the first thing that
differs besides the residual connections: architecture (depth, widths), initial weights
(different seeds), or training (steps, learning rate, batch size, data order).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..nn import Stack
from ..training import TrainConfig
from .core import CheckFailed, check

HINTS = {
    "types": "pass two torch.nn.Module models and two coursekit.TrainConfig objects",
    "widths": "the arms have different architectures: keep depth and widths equal, change only residual",
    "seeds": "the arms start from different weights: call seed_everything(seed) with the same seed before "
    "building each arm",
    "same_arm": "both arms are the same network: build one with residual=False and one with residual=True "
    "(for BatchNormNet: shortcut='none' and shortcut='identity')",
    "steps": "the arms train for different numbers of steps: use one TrainConfig for both",
    "training": "the arms train differently: use one TrainConfig (learning rate, batch size, seed) for both",
}


def _settings(model: nn.Module) -> list[tuple]:
    """Every module's class and plain attributes: where a ``residual=True/False`` flag lives."""
    return [
        (name, type(m), sorted((k, repr(v)) for k, v in vars(m).items() if not k.startswith("_")))
        for name, m in model.named_modules()
    ]


def _same_network(a: nn.Module, b: nn.Module) -> bool:
    """Same modules, settings, weights and buffers: the two compute the same function."""
    buffers_a, buffers_b = list(a.buffers()), list(b.buffers())
    return (
        a is b
        or _settings(a) == _settings(b)
        and len(buffers_a) == len(buffers_b)
        and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(buffers_a, buffers_b, strict=True))
    )


def _shapes(model: nn.Module) -> list[tuple[int, ...]]:
    """Parameter shapes in order (names differ: a residual wraps its branch in one more module)."""
    return [tuple(p.shape) for p in model.parameters()]


@check("fair_comparison")
def check_fair_comparison(
    plain: object, residual: object, plain_config: object, residual_config: object
) -> None:
    """Check that the two untrained arms and their ``TrainConfig``s differ only in the skips."""
    if not all(isinstance(m, nn.Module) for m in (plain, residual)) or not all(
        isinstance(c, TrainConfig) for c in (plain_config, residual_config)
    ):
        raise CheckFailed(
            "expected (plain model, residual model, plain TrainConfig, residual TrainConfig)", HINTS["types"]
        )
    if _shapes(plain) != _shapes(residual):  # type: ignore[arg-type]
        count = [sum(p.numel() for p in m.parameters()) for m in (plain, residual)]  # type: ignore[union-attr]
        raise CheckFailed(
            f"the arms have {count[0]} and {count[1]} parameters, or differently shaped ones", HINTS["widths"]
        )
    if isinstance(plain, Stack) and isinstance(residual, Stack):
        if plain.config.residual == residual.config.residual:
            raise CheckFailed(f"both arms have residual={plain.config.residual}", HINTS["same_arm"])
        if dataclasses.replace(plain.config, residual=residual.config.residual) != residual.config:
            raise CheckFailed("the arms' StackConfigs differ in more than residual", HINTS["widths"])
    for (name, a), b in zip(plain.named_parameters(), residual.parameters(), strict=True):  # type: ignore[union-attr]
        if not torch.equal(a, b):
            raise CheckFailed(f"the arms' initial {name} differ", HINTS["seeds"])
    if _same_network(plain, residual):  # type: ignore[arg-type]
        raise CheckFailed("the two arms have the same modules, settings and weights", HINTS["same_arm"])
    if plain_config != residual_config:
        fields = [f.name for f in dataclasses.fields(TrainConfig)]
        differ = [f for f in fields if getattr(plain_config, f) != getattr(residual_config, f)]
        raise CheckFailed(
            f"the TrainConfigs differ in {', '.join(differ)}",
            HINTS["steps" if "steps" in differ else "training"],
        )
