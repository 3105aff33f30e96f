"""The transformer block: attention and MLP, each with its own residual and LayerNorm."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..validate import require_choice, require_positive_float, require_positive_int, require_sequence
from .attention import SelfAttention
from .mlp import MLP
from .norms import LayerNorm

NORM_PLACEMENTS = ("pre", "post", "none")
# the placements of a norm that is there: what the pre- versus post-norm experiments accept
NORMED_PLACEMENTS = tuple(p for p in NORM_PLACEMENTS if p != "none")


class TransformerBlock(nn.Module):
    r"""One encoder (or, with ``causal=True``, decoder-style) transformer layer.

    The two placements of the norm, side by side, exactly as ``torch.nn.TransformerEncoderLayer``
    computes them with ``norm_first=True`` / ``False``:

    - ``norm="pre"`` (GPT-2): ``x = x + attn(norm1(x))``; ``x = x + mlp(norm2(x))``
    - ``norm="post"`` (original Transformer, BERT): ``x = norm1(x + attn(x))``; ``x = norm2(x + mlp(x))``
    - ``norm="none"``: the same as ``"pre"`` with the norms replaced by the identity.

    ``residual=False`` drops the ``x +`` of both sublayers and nothing else, so the same block
    can be trained with and without skips.

    Args:
        d_model: width of the residual stream.
        n_heads: attention heads; must divide ``d_model``.
        d_hidden: MLP hidden width. Default: ``4 * d_model``.
        norm: ``"pre"``, ``"post"`` or ``"none"``. Default: ``"pre"``.
        residual: keep the skip connections. Default: True.
        activation: MLP activation: ``"gelu"`` (exact, as ``torch.nn.GELU()``), ``"gelu_tanh"``
            (the tanh approximation GPT-2 uses) or ``"relu"``. Default: ``"gelu"``.
        eps: LayerNorm epsilon. Default: 1e-5.

    Shape:
        input ``(batch, seq, d_model)``, output ``(batch, seq, d_model)``.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_hidden: int | None = None,
        norm: str = "pre",
        residual: bool = True,
        activation: str = "gelu",
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.d_model = require_positive_int("d_model", d_model)
        self.norm = require_choice("norm", norm, NORM_PLACEMENTS)
        if not isinstance(residual, bool):
            raise TypeError(f"residual must be True or False, got {residual!r}")
        self.residual = residual
        eps = require_positive_float("eps", eps)
        self.attn = SelfAttention(d_model, n_heads)
        self.mlp = MLP(d_model, d_hidden, activation=activation)
        self.norm1 = nn.Identity() if norm == "none" else LayerNorm(d_model, eps=eps)
        self.norm2 = nn.Identity() if norm == "none" else LayerNorm(d_model, eps=eps)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        require_sequence("input", x, self.d_model)
        if not self.residual:
            return self._forward_without_skips(x, causal)
        if self.norm == "post":
            x = self.norm1(x + self.attn(x, causal=causal))
            x = self.norm2(x + self.mlp(x))
        else:
            x = x + self.attn(self.norm1(x), causal=causal)
            x = x + self.mlp(self.norm2(x))
        return x  # (batch, seq, d_model)

    def _forward_without_skips(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        """:meth:`forward` with the ``x +`` of both sublayers removed, and nothing else."""
        if self.norm == "post":
            x = self.norm1(self.attn(x, causal=causal))
            x = self.norm2(self.mlp(x))
        else:
            x = self.attn(self.norm1(x), causal=causal)
            x = self.mlp(self.norm2(x))
        return x  # (batch, seq, d_model)

    def extra_repr(self) -> str:
        return f"norm={self.norm!r}, residual={self.residual}"

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> TransformerBlock:
        """A block computing what ``layer`` computes in eval mode, with its weights copied.

        ``layer`` must use ``batch_first=True``, biases, and ReLU or GELU (exact or tanh). Dropout is not
        copied: this block has none, so compare against ``layer.eval()``.
        """
        if not isinstance(layer, nn.TransformerEncoderLayer):
            raise TypeError(f"expected a torch.nn.TransformerEncoderLayer, got {type(layer).__name__}")
        if not layer.self_attn.batch_first:
            raise ValueError(
                "the layer must be built with batch_first=True (this block is (batch, seq, d_model))"
            )
        if layer.linear1.bias is None or layer.self_attn.in_proj_bias is None:
            raise ValueError("the layer must be built with bias=True")
        act = layer.activation
        if act is F.relu or isinstance(act, nn.ReLU):
            activation = "relu"
        elif act is F.gelu or (isinstance(act, nn.GELU) and act.approximate == "none"):
            activation = "gelu"
        elif isinstance(act, nn.GELU) and act.approximate == "tanh":
            activation = "gelu_tanh"
        else:
            raise ValueError(f"only ReLU and GELU (exact or tanh) activations can be copied, got {act!r}")
        block = cls(
            d_model=layer.self_attn.embed_dim,
            n_heads=layer.self_attn.num_heads,
            d_hidden=layer.linear1.out_features,
            norm="pre" if layer.norm_first else "post",
            activation=activation,
            eps=layer.norm1.eps,
        ).to(device=layer.linear1.weight.device, dtype=layer.linear1.weight.dtype)
        source = {
            "attn.in_proj_weight": layer.self_attn.in_proj_weight,
            "attn.in_proj_bias": layer.self_attn.in_proj_bias,
            "attn.out_proj.weight": layer.self_attn.out_proj.weight,
            "attn.out_proj.bias": layer.self_attn.out_proj.bias,
            "mlp.fc1.weight": layer.linear1.weight,
            "mlp.fc1.bias": layer.linear1.bias,
            "mlp.fc2.weight": layer.linear2.weight,
            "mlp.fc2.bias": layer.linear2.bias,
            "norm1.weight": layer.norm1.weight,
            "norm1.bias": layer.norm1.bias,
            "norm2.weight": layer.norm2.weight,
            "norm2.bias": layer.norm2.bias,
        }
        block.load_state_dict({name: p.detach() for name, p in source.items()})  # copies the values
        return block
