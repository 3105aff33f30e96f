"""Rank collapse of pure attention (Dong, Cordonnier and Loukas 2021).

Attention averages tokens, so a stack of attention layers alone drives every token to the
same vector (rank one) doubly exponentially fast. Skip connections stop the collapse and
MLPs slow it. Four stacks at init, from the reference attention and MLP, without norms.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn import MLP, SelfAttention
from ..probes import rank_collapse
from ..seeding import seed_everything, single_threaded
from ..validate import require_positive_int

VARIANTS = {
    "attention": (False, False),
    "attention+MLP": (True, False),
    "attention+skip": (False, True),
    "attention+MLP+skip": (True, True),
}


class AttentionLayer(nn.Module):
    """``[x +] attn(x)``, then optionally ``[x +] mlp(x)``: no norms, so nothing hides the collapse."""

    def __init__(self, d_model: int, n_heads: int, mlp: bool, skip: bool) -> None:
        super().__init__()
        self.attn = SelfAttention(d_model, n_heads)
        self.mlp = MLP(d_model) if mlp else None
        self.skip = 1.0 if skip else 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.skip * x + self.attn(x)  # (batch, seq, d_model)
        if self.mlp is not None:
            x = self.skip * x + self.mlp(x)
        return x


class AttentionStack(nn.Module):
    def __init__(self, depth: int, d_model: int, n_heads: int, mlp: bool, skip: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(AttentionLayer(d_model, n_heads, mlp, skip) for _ in range(depth))

    def hidden_states(self, x: torch.Tensor) -> list[torch.Tensor]:
        states = [x]
        for block in self.blocks:
            states.append(block(states[-1]))
        return states

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden_states(x)[-1]


@single_threaded
def run_rank_collapse(
    depth: int = 24, seq: int = 32, d_model: int = 64, n_heads: int = 4, batch: int = 8, seed: int = 0
) -> dict[str, list[float]]:
    """‖X − 1x̄ᵀ‖/‖X‖ after each layer (``depth + 1`` numbers, the input first) per variant:
    ``attention``, ``attention+MLP``, ``attention+skip``, ``attention+MLP+skip``."""
    for name, value in (("depth", depth), ("seq", seq), ("batch", batch)):
        require_positive_int(name, value)
    x = torch.randn(
        batch, seq, d_model, generator=torch.Generator().manual_seed(seed)
    )  # (batch, seq, d_model)
    out = {}
    for name, (mlp, skip) in VARIANTS.items():
        seed_everything(seed)
        out[name] = rank_collapse(AttentionStack(depth, d_model, n_heads, mlp, skip), x)
    return out
