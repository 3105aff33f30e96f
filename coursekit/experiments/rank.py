"""Rank collapse of pure attention (Dong, Cordonnier and Loukas 2021).

Attention averages tokens, so a stack of attention layers alone drives every token to the
same vector (rank one) doubly exponentially fast. Skip connections stop the collapse and
MLPs slow it. Four stacks at init, from the reference attention and MLP, without norms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..nn import MLP, SelfAttention
from ..probes import rank_collapse
from ..seeding import seed_everything, single_threaded
from ..validate import require_int_tuple, require_positive_int

VARIANTS = {
    "attention": (False, False),
    "attention+MLP": (True, False),
    "attention+skip": (False, True),
    "attention+MLP+skip": (True, True),
}


class AttentionLayer(nn.Module):
    """``[x +] attn(x)``, then optionally ``[x +] mlp(x)``: no norms, so nothing hides the collapse."""

    def __init__(self, d_model: int, n_heads: int, mlp: bool, residual: bool) -> None:
        super().__init__()
        self.attn = SelfAttention(d_model, n_heads)
        self.mlp = MLP(d_model) if mlp else None
        self.skip = 1.0 if residual else 0.0  # the skip path's weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.skip * x + self.attn(x)  # (batch, seq, d_model)
        if self.mlp is not None:
            x = self.skip * x + self.mlp(x)
        return x


class AttentionStack(nn.Module):
    def __init__(self, depth: int, d_model: int, n_heads: int, mlp: bool, residual: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(AttentionLayer(d_model, n_heads, mlp, residual) for _ in range(depth))

    def hidden_states(self, x: torch.Tensor) -> list[torch.Tensor]:
        states = [x]
        for block in self.blocks:
            states.append(block(states[-1]))
        return states

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden_states(x)[-1]


@dataclass(frozen=True)
class RankCollapseConfig:
    """Four stacks at init, probed on random tokens: how deep, how many tokens, which seeds."""

    depth: int = 24
    seq: int = 32  # tokens per example
    d_model: int = 64
    n_heads: int = 4
    batch: int = 8
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        for name in ("depth", "seq", "d_model", "n_heads", "batch"):
            require_positive_int(name, getattr(self, name))
        require_int_tuple("seeds", self.seeds)


@dataclass(frozen=True)
class RankCollapseResult:
    """``ratios[variant][i]``: ‖X − 1x̄ᵀ‖/‖X‖ at the input and after each layer (``depth + 1``
    numbers) at ``config.seeds[i]``, for each variant of :data:`VARIANTS`."""

    config: RankCollapseConfig
    ratios: dict[str, list[list[float]]]

    def curves(self, seed_index: int = 0) -> dict[str, list[float]]:
        """``{variant: ratio by layer}`` at one seed."""
        return {variant: by_seed[seed_index] for variant, by_seed in self.ratios.items()}


@single_threaded
def run_rank_collapse(config: RankCollapseConfig = RankCollapseConfig()) -> RankCollapseResult:
    """‖X − 1x̄ᵀ‖/‖X‖ by layer for ``attention``, ``attention+MLP``, ``attention+skip`` and
    ``attention+MLP+skip``, at every seed."""
    if not isinstance(config, RankCollapseConfig):
        raise TypeError(f"config must be a RankCollapseConfig, got {type(config).__name__}")
    c = config
    ratios: dict[str, list[list[float]]] = {name: [] for name in VARIANTS}
    for seed in c.seeds:
        x = torch.randn(c.batch, c.seq, c.d_model, generator=torch.Generator().manual_seed(seed))
        for mlp in (False, True):  # a stack with and without skips holds the same weights:
            seed_everything(seed)  # built once, run with its skip weights at 0, then at 1
            stack = AttentionStack(c.depth, c.d_model, c.n_heads, mlp, residual=False)
            for residual in (False, True):
                for block in stack.blocks:
                    block.skip = 1.0 if residual else 0.0  # as AttentionLayer(..., residual) sets it
                name = next(n for n, v in VARIANTS.items() if v == (mlp, residual))
                ratios[name].append(rank_collapse(stack, x))  # x: (batch, seq, d_model)
    return RankCollapseResult(config, ratios)
