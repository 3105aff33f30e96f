"""Layers for many variants at once: the ops the models' ``forward_stacked`` methods are made of
(the contract: :mod:`.contract`).

Every weight carries a leading ``variant`` dimension, as ``torch.func.stack_module_state``
stacks it, and each function computes, per variant, what the ``torch.nn`` layer computes,
in a few batched ops (``bmm`` and friends) instead of one small op per variant. Activations
are ``(variant, batch, ...)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from ..nn import TransformerBlock, add_and_norm
from ..nn.mlp import ACTIVATIONS


def linear_stacked(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear`` per variant: ``x`` ``(variant, ..., in)``, ``weight`` ``(variant, out, in)``,
    ``bias`` ``(variant, out)`` or None; returns ``(variant, ..., out)``."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1])  # (variant, n, in)
    if bias is None:
        out = torch.bmm(flat, weight.transpose(1, 2))
    else:
        out = torch.baddbmm(bias.unsqueeze(1), flat, weight.transpose(1, 2))  # (variant, n, out)
    return out.view(*x.shape[:-1], weight.shape[1])


def batch_norm_stacked(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5, relu: bool = False
) -> torch.Tensor:
    """Training-mode BatchNorm per variant and channel of ``x`` ``(variant, batch, width)``, as one
    fused ``F.batch_norm`` over ``variant * width`` channels; ``relu`` applies ReLU in place on
    its output (one buffer fewer per layer, same numbers)."""
    variants, batch, width = x.shape
    flat = x.transpose(0, 1).reshape(batch, variants * width)  # (batch, variant * width)
    out = F.batch_norm(flat, None, None, weight.reshape(-1), bias.reshape(-1), training=True, eps=eps)
    if relu:
        out = F.relu(out, inplace=True)
    return out.view(batch, variants, width).transpose(0, 1)  # (variant, batch, width)


def _per_variant(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``t`` ``(variant, d)`` viewed to broadcast against ``like`` ``(variant, ..., d)``."""
    return t.view(t.shape[0], *([1] * (like.dim() - 2)), t.shape[-1])


def layer_norm_stacked(
    x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float = 1e-5
) -> torch.Tensor:
    """LayerNorm over the last dimension of ``x`` ``(variant, ..., d)``, with each variant's own
    gain and bias ``(variant, d)`` (either may be None)."""
    y = F.layer_norm(x, x.shape[-1:], eps=eps)
    if weight is not None and bias is not None:
        return torch.addcmul(_per_variant(bias, x), y, _per_variant(weight, x))
    if weight is not None:
        y = y * _per_variant(weight, x)
    return y if bias is None else y + _per_variant(bias, x)


def attention_stacked(
    x: torch.Tensor, p: dict[str, torch.Tensor], prefix: str, n_heads: int, causal: bool = False
) -> torch.Tensor:
    """:class:`~coursekit.nn.SelfAttention` per variant, its stacked weights under ``prefix`` in
    ``p`` (``in_proj_weight``, ``in_proj_bias``, ``out_proj.weight``, ``out_proj.bias``).
    ``x`` ``(variant, batch, seq, d_model)``. The heads go through one
    ``scaled_dot_product_attention`` (measured: half the time of the softmax written out)."""
    variants, batch, seq, d = x.shape
    qkv = linear_stacked(x, p[prefix + "in_proj_weight"], p.get(prefix + "in_proj_bias"))
    # (variant, batch, seq, 3, heads, d_head) -> q, k, v (variant * batch, heads, seq, d_head)
    q, k, v = qkv.view(variants * batch, seq, 3, n_heads, d // n_heads).permute(2, 0, 3, 1, 4)
    heads = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # (variant * batch, heads, seq, d_head)
    heads = heads.transpose(1, 2).reshape(variants, batch, seq, d)
    return linear_stacked(heads, p[prefix + "out_proj.weight"], p.get(prefix + "out_proj.bias"))


def mlp_stacked(x: torch.Tensor, p: dict[str, torch.Tensor], prefix: str, activation: str) -> torch.Tensor:
    """:class:`~coursekit.nn.MLP` per variant (``fc1`` → ``activation`` → ``fc2`` under ``prefix``)."""
    hidden = linear_stacked(x, p[prefix + "fc1.weight"], p.get(prefix + "fc1.bias"))  # (..., d_hidden)
    hidden = ACTIVATIONS[activation](hidden)
    return linear_stacked(hidden, p[prefix + "fc2.weight"], p.get(prefix + "fc2.bias"))


def transformer_block_stacked(
    block: TransformerBlock, p: dict[str, torch.Tensor], prefix: str, x: torch.Tensor, causal: bool = False
) -> torch.Tensor:
    """``block``'s forward per variant (its settings; the weights under ``prefix`` in ``p``), the
    same ops as :meth:`~coursekit.nn.TransformerBlock.forward` (:func:`~coursekit.nn.add_and_norm`).
    ``x`` ``(variant, batch, seq, d_model)``."""

    def norm(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
        if block.norm == "none":
            return lambda h: h
        w, b, eps = p.get(f"{prefix}{name}.weight"), p.get(f"{prefix}{name}.bias"), getattr(block, name).eps
        return lambda h: layer_norm_stacked(h, w, b, eps)

    def attn(h: torch.Tensor) -> torch.Tensor:
        return attention_stacked(h, p, prefix + "attn.", block.attn.n_heads, causal)

    def mlp(h: torch.Tensor) -> torch.Tensor:
        return mlp_stacked(h, p, prefix + "mlp.", block.mlp.activation)

    x = add_and_norm(x, attn, norm("norm1"), block.norm, block.residual)
    return add_and_norm(x, mlp, norm("norm2"), block.norm, block.residual)  # (variant, batch, seq, d_model)
