"""Deep stacks of blocks, configured by one small dataclass, for the experiments."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..validate import require_choice, require_positive_float, require_positive_int
from .block import NORM_PLACEMENTS, TransformerBlock
from .mlp import MLP
from .norms import LayerNorm
from .residual import add_and_norm

BLOCK_KINDS = ("mlp", "transformer")


@dataclass(frozen=True)
class StackConfig:
    """What to stack. Everything else about two stacks being compared stays the same."""

    depth: int  # number of blocks
    d_model: int = 64  # width of the residual stream
    block: str = "mlp"  # "mlp": norm + MLP branch; "transformer": TransformerBlock
    residual: bool = True  # identity shortcut around every branch
    norm: str = "pre"  # "pre": x + f(norm(x)); "post": norm(x + f(x)); "none"
    d_hidden: int | None = None  # MLP hidden width; None means 4 * d_model
    n_heads: int = 4  # transformer blocks only
    activation: str = "gelu"
    branch_scale: float = 1.0  # mlp blocks: x + scale * f(x); 1/sqrt(depth) tames growth
    gate: bool = False  # mlp blocks: ReZero, x + alpha * f(x) with alpha learned from 0

    def __post_init__(self) -> None:
        for name in ("residual", "gate"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        require_positive_int("depth", self.depth)
        require_positive_int("d_model", self.d_model)
        require_choice("block", self.block, BLOCK_KINDS)
        require_choice("norm", self.norm, NORM_PLACEMENTS)
        require_positive_float("branch_scale", self.branch_scale)
        if self.block == "transformer" and (self.branch_scale != 1.0 or self.gate):
            raise ValueError("branch_scale and gate apply to mlp blocks only")
        if not self.residual and (self.branch_scale != 1.0 or self.gate):
            raise ValueError("branch_scale and gate need residual=True (they scale the branch of a residual)")


class MLPBlock(nn.Module):
    """One MLP block with the configured shortcut and norm placement.

    pre: ``x + s * mlp(norm1(x))``; post: ``norm1(x + s * mlp(x))``; none: ``x + s * mlp(x)``;
    without the residual, the same minus the ``x +``, so with and without skips the blocks
    hold the same parameters under the same names. ``s`` is ``branch_scale``, or the learned
    ``gate`` (starting at 0, ReZero) when ``config.gate``. As in :class:`TransformerBlock`,
    ``norm`` is the placement and ``norm1`` the LayerNorm (the identity for ``"none"``).
    """

    def __init__(self, config: StackConfig) -> None:
        super().__init__()
        self.norm = config.norm
        self.residual = config.residual
        self.scale = config.branch_scale
        self.norm1 = nn.Identity() if config.norm == "none" else LayerNorm(config.d_model)
        self.mlp = MLP(config.d_model, config.d_hidden, activation=config.activation)
        self.gate = nn.Parameter(torch.zeros(())) if config.gate else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return add_and_norm(x, self._branch, self.norm1, self.norm, self.residual)

    def _branch(self, h: torch.Tensor) -> torch.Tensor:
        """``s * mlp(h)``; without a residual ``mlp(h)`` alone (``s`` is 1 then: StackConfig)."""
        if not self.residual:
            return self.mlp(h)
        alpha = self.scale if self.gate is None else self.gate
        return alpha * self.mlp(h)

    def extra_repr(self) -> str:
        return f"norm={self.norm!r}, residual={self.residual}, scale={self.scale}"


class Stack(nn.Module):
    """``config.depth`` blocks applied in order to a ``(batch, [seq,] d_model)`` stream.

    ``hidden_states`` returns the stream after every block, which is what the probes read.
    """

    def __init__(self, config: StackConfig) -> None:
        super().__init__()
        if not isinstance(config, StackConfig):
            raise TypeError(f"config must be a StackConfig, got {type(config).__name__}")
        self.config = config
        if config.block == "mlp":
            make = lambda: MLPBlock(config)  # noqa: E731
        else:
            make = lambda: TransformerBlock(  # noqa: E731
                config.d_model,
                config.n_heads,
                config.d_hidden,
                norm=config.norm,
                residual=config.residual,
                activation=config.activation,
            )
        self.blocks = nn.ModuleList(make() for _ in range(config.depth))

    def _apply_block(self, block: nn.Module, x: torch.Tensor, causal: bool) -> torch.Tensor:
        return block(x, causal=causal) if isinstance(block, TransformerBlock) else block(x)

    def hidden_states(self, x: torch.Tensor, causal: bool = False) -> list[torch.Tensor]:
        """``[x_0, x_1, ..., x_depth]``: the input and the stream after each block."""
        states = [x]
        for block in self.blocks:
            states.append(self._apply_block(block, states[-1], causal))
        return states

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        for block in self.blocks:
            x = self._apply_block(block, x, causal)
        return x

    def extra_repr(self) -> str:
        c = self.config
        return f"depth={c.depth}, block={c.block!r}, residual={c.residual}, norm={c.norm!r}"


def build_stack(
    depth: int,
    d_model: int = 64,
    *,
    residual: bool = True,
    norm: str = "pre",
    block: str = "mlp",
    **options: object,
) -> Stack:
    """Shorthand for ``Stack(StackConfig(depth, d_model, ...))``."""
    return Stack(StackConfig(depth, d_model, block=block, residual=residual, norm=norm, **options))
