"""The position-wise MLP (feed-forward) block of a transformer."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..validate import require_choice, require_features, require_positive_int


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU's tanh approximation, as GPT-2 and Google's BERT code compute it (Hendrycks and Gimpel 2016):
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``; ``nn.GELU(approximate="tanh")``."""
    return F.gelu(x, approximate="tanh")


# "gelu" is the exact x * Phi(x), torch.nn.GELU()'s default; "gelu_tanh" the approximation GPT-2 uses
ACTIVATIONS = {"gelu": F.gelu, "gelu_tanh": gelu_tanh, "relu": F.relu}


class MLP(nn.Module):
    r"""Linear → activation → Linear, applied to every position independently.

    .. math::
        \mathrm{MLP}(x) = W_2\, \phi(W_1 x + b_1) + b_2

    It mixes *features* within a token; attention mixes *tokens*. Transformers use
    ``d_hidden = 4 * d_model`` (Vaswani et al. 2017), which makes the MLP about two thirds
    of a block's parameters.

    Args:
        d_model: input and output width.
        d_hidden: hidden width. Default: ``4 * d_model``.
        activation: ``"gelu"``, the exact :math:`x\,\Phi(x)` (``torch.nn.GELU()``);
            ``"gelu_tanh"``, its tanh approximation (GPT-2's, and Google's BERT code's;
            ``nn.GELU(approximate="tanh")``);
            or ``"relu"`` (the original Transformer). Default: ``"gelu"``.
        bias: give both linear layers a bias. Default: True.

    Shape:
        input ``(*, d_model)``, output ``(*, d_model)``.
    """

    def __init__(
        self,
        d_model: int,
        d_hidden: int | None = None,
        activation: str = "gelu",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.d_model = require_positive_int("d_model", d_model)
        self.d_hidden = require_positive_int("d_hidden", 4 * d_model if d_hidden is None else d_hidden)
        self.activation = require_choice("activation", activation, tuple(ACTIVATIONS))
        self.fc1 = nn.Linear(self.d_model, self.d_hidden, bias=bias)
        self.fc2 = nn.Linear(self.d_hidden, self.d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        require_features("input", x, self.d_model)
        return self.fc2(ACTIVATIONS[self.activation](self.fc1(x)))  # (*, d_hidden) -> (*, d_model)

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"
