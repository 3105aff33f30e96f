"""Un-normalised residual streams blow up; scaling the branch fixes it.

Identity shortcuts *add* the branch's variance every block (so "residuals fix exploding
gradients" is a myth). Fixes: multiply each branch by 1/√L (Fixup, Zhang et al. 2019;
DeepNet, Wang et al. 2022) or gate it with a learned scalar that starts at 0 (ReZero,
Bachlechner et al. 2020). Measured at init on a stack of MLP blocks without norms:
:func:`run_stream_growth`, config in, result out, over several seeds.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import nn

from ..nn import Stack, StackConfig
from ..seeding import seed_everything, single_threaded
from ..validate import require_int_tuple, require_positive_int

VARIANTS = ("identity", "1/sqrt(L)", "rezero")


def he_init(stack: Stack) -> Stack:
    """He initialisation of every MLP branch: ``fc1`` for ReLU, ``fc2`` variance-preserving,
    so each branch's output has about its input's variance (the "He init" of docs/science.md)."""
    for module in stack.modules():
        if hasattr(module, "fc1") and hasattr(module, "fc2"):
            nn.init.kaiming_normal_(module.fc1.weight, nonlinearity="relu")
            nn.init.kaiming_normal_(module.fc2.weight, nonlinearity="linear")
            nn.init.zeros_(module.fc1.bias)
            nn.init.zeros_(module.fc2.bias)
    return stack


def _stream_by_variant(depth: int, d_model: int, batch: int, seed: int) -> dict[str, list[float]]:
    """RMS of the stream after each block (``depth + 1`` numbers, the input first), per variant:
    ``identity`` (x + f(x)), ``1/sqrt(L)`` (x + f(x)/√L), ``rezero`` (x + α f(x), α = 0 at init).
    Computed once per setting (a deterministic function of it): a widget redrawing a lesson's
    setting reads the lesson's numbers."""
    return {name: list(values) for name, values in _streams(depth, d_model, batch, seed).items()}


@functools.lru_cache(maxsize=256)
def _streams(depth: int, d_model: int, batch: int, seed: int) -> dict[str, tuple[float, ...]]:
    """:func:`_stream_by_variant`, kept. The seed draws the same weights for every variant (the
    ReZero gate, the one parameter the others lack, starts at 0 without drawing), so one stack
    is built, the ReZero one, and each variant runs its blocks' MLPs with its own factor on the
    branch: what each variant's own :class:`~coursekit.nn.Stack` computes, bit for bit
    (tests/test_experiments_shortcuts.py), for a third of the building."""
    seed_everything(seed)
    stack = he_init(Stack(StackConfig(depth, d_model, norm="none", activation="relu", gate=True)))
    x = torch.randn(batch, d_model, generator=torch.Generator().manual_seed(seed))  # (batch, d_model)
    out = {}
    for name, factor in (("identity", 1.0), ("1/sqrt(L)", 1 / math.sqrt(depth)), ("rezero", None)):
        states = [x]  # the stream entering the first block, then after each
        with torch.no_grad():
            for block in stack.blocks:
                alpha = block.gate if factor is None else factor
                states.append(states[-1] + alpha * block.mlp(states[-1]))  # x + α f(x), no norm
        out[name] = tuple(h.pow(2).mean().sqrt().item() for h in states)
    return out


@dataclass(frozen=True)
class StreamGrowthConfig:
    """An un-normalised stack of ReLU MLP blocks with He init, probed at init over seeds."""

    depth: int = 50
    d_model: int = 64
    batch: int = 256
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        for name in ("depth", "d_model", "batch"):
            require_positive_int(name, getattr(self, name))
        require_int_tuple("seeds", self.seeds)


@dataclass
class StreamGrowthResult:
    """``rms[variant][seed index]``: the stream's RMS at the input and after every block
    (``depth + 1`` numbers) for each variant of :data:`VARIANTS`. ``predicted`` is what the
    variance sum gives for the last block relative to the input, if each branch adds its input's
    variance: ``√2^L`` (identity), ``√((1 + 1/L)^L) ≈ √e`` (1/√L), 1 (ReZero)."""

    config: StreamGrowthConfig
    rms: dict[str, list[list[float]]]
    predicted: dict[str, float]

    def curves(self, seed_index: int = 0) -> dict[str, list[float]]:
        """``{variant: rms by block}`` at one seed."""
        return {variant: by_seed[seed_index] for variant, by_seed in self.rms.items()}

    def final(self, variant: str) -> list[float]:
        """The RMS after the last block relative to the input's, one number per seed."""
        return [values[-1] / values[0] for values in self.rms[variant]]


@single_threaded
def run_stream_growth(config: StreamGrowthConfig = StreamGrowthConfig()) -> StreamGrowthResult:
    """The stream's RMS by block for the identity, 1/√L and ReZero variants at every seed."""
    if not isinstance(config, StreamGrowthConfig):
        raise TypeError(f"config must be a StreamGrowthConfig, got {type(config).__name__}")
    rms: dict[str, list[list[float]]] = {variant: [] for variant in VARIANTS}
    for seed in config.seeds:
        for variant, values in _stream_by_variant(config.depth, config.d_model, config.batch, seed).items():
            rms[variant].append(values)
    L = config.depth
    predicted = {"identity": math.sqrt(2) ** L, "1/sqrt(L)": math.sqrt((1 + 1 / L) ** L), "rezero": 1.0}
    return StreamGrowthResult(config, rms, predicted)
