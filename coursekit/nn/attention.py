"""Multi-head self-attention, written out, with ``nn.MultiheadAttention``'s parameter names."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..validate import require_positive_int, require_sequence


def causal_mask(seq: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean ``(seq, seq)`` mask, True where position i may *not* attend to j (j > i)."""
    return torch.ones(seq, seq, dtype=torch.bool, device=device).triu(1)


class SelfAttention(nn.Module):
    r"""Multi-head scaled dot-product self-attention (Vaswani et al. 2017).

    .. math::
        \mathrm{head}_h = \mathrm{softmax}\!\left(\frac{Q_h K_h^\top}{\sqrt{d_{head}}}\right) V_h,
        \qquad y = [\mathrm{head}_1, \dots, \mathrm{head}_H]\, W_O^\top + b_O

    The parameters are named as in ``torch.nn.MultiheadAttention`` (``in_proj_weight``,
    ``in_proj_bias``, ``out_proj``), so weights copy across in both directions.

    Args:
        d_model: width of the stream; must be divisible by ``n_heads``.
        n_heads: number of heads.
        bias: learn the input and output projection biases. Default: True.

    Shape:
        input ``(batch, seq, d_model)``, output ``(batch, seq, d_model)``.
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True) -> None:
        super().__init__()
        self.d_model = require_positive_int("d_model", d_model)
        self.n_heads = require_positive_int("n_heads", n_heads)
        if d_model % n_heads:
            raise ValueError(
                f"d_model ({d_model}) must be divisible by n_heads ({n_heads}); "
                f"try n_heads in {[h for h in range(1, d_model + 1) if d_model % h == 0][:8]}"
            )
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model)) if bias else None
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as nn.MultiheadAttention does
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        require_sequence("input", x, self.d_model)
        batch, seq, _ = x.shape
        d_head = self.d_model // self.n_heads
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (batch, seq, 3 * d_model)
        q, k, v = (
            t.view(batch, seq, self.n_heads, d_head).transpose(1, 2)  # (batch, heads, seq, d_head)
            for t in qkv.chunk(3, dim=-1)
        )
        scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)  # (batch, heads, seq, seq)
        if causal:
            scores = scores.masked_fill(causal_mask(seq, x.device), float("-inf"))
        heads = scores.softmax(dim=-1) @ v  # (batch, heads, seq, d_head)
        return self.out_proj(heads.transpose(1, 2).reshape(batch, seq, self.d_model))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}"
