"""The residual connection: ``y = x + f(x)``, optionally with a scaled or gated branch, and
a sublayer's residual with its norm in either placement (:func:`add_and_norm`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..validate import require_positive_float


class Residual(nn.Module):
    r"""Wrap a sublayer ``f`` with an identity shortcut: :math:`y = x + \alpha f(x)`.

    With ``alpha = 1`` this is the clean identity shortcut of He et al. (2016). The two
    options are the fixes for an un-normalised stream whose variance grows block by block:

    - ``scale=1/math.sqrt(depth)`` multiplies the branch by a constant (Fixup/DeepNet-style);
    - ``gate=True`` learns ``alpha``, starting at 0, so every block starts as the identity
      (ReZero, Bachlechner et al. 2020).

    Because the shortcut is the identity, the Jacobian is ``I + alpha * df/dx``: the gradient
    always has a direct path back through the ``I``.

    Args:
        sublayer: the branch ``f``; it must map a tensor to one of the same shape.
        scale: constant factor on the branch. Default: 1.0.
        gate: learn the factor as the parameter ``gate``, initialised to 0. Default: False.

    Shape:
        input ``(*)``, output the same shape.
    """

    def __init__(self, sublayer: nn.Module, scale: float = 1.0, gate: bool = False) -> None:
        super().__init__()
        if not isinstance(sublayer, nn.Module):
            raise TypeError(f"sublayer must be a torch.nn.Module, got {type(sublayer).__name__}")
        if gate and scale != 1.0:
            raise ValueError("choose either a fixed scale or a learned gate, not both")
        self.sublayer = sublayer
        self.scale = require_positive_float("scale", scale)
        if gate:
            self.gate = nn.Parameter(torch.zeros(()))
        else:
            self.register_parameter("gate", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.sublayer(x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the residual branch must return the input's shape {tuple(x.shape)}, got {got}")
        alpha = self.gate if self.gate is not None else self.scale
        return x + alpha * out

    def extra_repr(self) -> str:
        return "gate=True" if self.gate is not None else f"scale={self.scale}"


Sublayer = Callable[[torch.Tensor], torch.Tensor]


def add_and_norm(
    x: torch.Tensor, sublayer: Sublayer, norm_layer: Sublayer, norm: str, residual: bool | torch.Tensor = True
) -> torch.Tensor:
    """One sublayer ``f`` with its norm and shortcut, as :class:`~coursekit.nn.TransformerBlock`'s
    forward writes it out, for the blocks built elsewhere: ``norm="pre"`` ``x + f(norm_layer(x))``,
    ``"post"`` ``norm_layer(x + f(x))`` (the original Transformer's "Add & Norm"); ``"none"`` is
    ``"pre"`` with an identity ``norm_layer``.

    ``residual=False`` drops the ``x +`` and nothing else; a tensor is a factor on the shortcut,
    ``residual * x + ...`` (a buffer that switches it per variant), computed before ``f`` as that
    expression would be: the same ops in the same order as the line written out.
    """
    if residual is False:
        return norm_layer(sublayer(x)) if norm == "post" else sublayer(norm_layer(x))
    shortcut = x if residual is True else residual * x
    if norm == "post":
        return norm_layer(shortcut + sublayer(x))
    return shortcut + sublayer(norm_layer(x))
