"""Check for the learner's ``TransformerBlock``, in both norm placements.

The learner's block gets the weights of a ``torch.nn.TransformerEncoderLayer`` (random norm
gains and biases too, dropout 0, eval mode) and must compute what that layer computes with
``norm_first=True`` (``norm="pre"``: ``x + f(norm(x))``) and ``False`` (``norm="post"``:
``norm(x + f(x))``). A mismatch is compared with the usual wiring mistakes, built from the
reference ``coursekit.TransformerBlock`` holding the same weights.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn import block as reference
from .core import SHARED_HINTS, CheckFailed, call_forward, check, compare, match_bug, require_class

BATCH, SEQ, D, HEADS, HIDDEN = 2, 5, 8, 2, 12

HINTS = {
    **SHARED_HINTS,
    "names": "name the parts as in the contract: attn (nn.MultiheadAttention, batch_first=True), "
    "mlp (with fc1 and fc2), norm1, norm2",
    "swapped": "pre-norm and post-norm are swapped: pre is x + f(norm(x)), post is norm(x + f(x))",
    "no_residual": "the residual is missing: each sublayer's output is added to its input, x + ...",
    "residual_twice": "x is added twice: each sublayer adds its input once",
    "norm_on_skip": "the norm is applied to the skip path too: keep x itself on the shortcut, x + f(norm(x))",
    "shared_norm": "each sublayer has its own norm: norm1 before (or after) attention, norm2 for the MLP",
}


def _torch_layer(norm_first: bool) -> nn.TransformerEncoderLayer:
    layer = nn.TransformerEncoderLayer(
        D, HEADS, HIDDEN, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm_first
    )
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.startswith("norm"):  # learned-looking gains and biases, so the norms show
                p.copy_(torch.randn_like(p) * 0.3 + (1.0 if name.endswith("weight") else 0.0))
            elif name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.1)
    return layer.eval()


def _candidates(ref: reference.TransformerBlock, x: torch.Tensor, placement: str) -> dict[str, torch.Tensor]:
    a, m, n1, n2 = ref.attn, ref.mlp, ref.norm1, ref.norm2
    swapped = reference.TransformerBlock(D, HEADS, HIDDEN, norm="post" if placement == "pre" else "pre")
    swapped.load_state_dict(ref.state_dict())
    plain = reference.TransformerBlock(D, HEADS, HIDDEN, norm=placement, residual=False)
    plain.load_state_dict(ref.state_dict())
    candidates = {"swapped": swapped(x), "no_residual": plain(x)}
    if placement == "pre":
        h = n1(x)
        x1 = h + a(h)
        candidates["norm_on_skip"] = n2(x1) + m(n2(x1))  # a post-norm block has no separate skip path
        x1 = x + a(n1(x))
        candidates["shared_norm"] = x1 + m(n1(x1))
        x1 = 2 * x + a(n1(x))
        candidates["residual_twice"] = 2 * x1 + m(n2(x1))
    else:
        x1 = n1(x + a(x))
        candidates["shared_norm"] = n1(x1 + m(x1))
        x1 = n1(2 * x + a(x))
        candidates["residual_twice"] = n2(2 * x1 + m(x1))
    return candidates


def _load(block: nn.Module, layer: nn.TransformerEncoderLayer) -> None:
    source = reference.TransformerBlock.from_torch(layer).state_dict()
    mine = block.state_dict()
    missing = sorted(set(source) - set(mine))
    if missing:
        raise CheckFailed(f"the block has no parameter(s) {', '.join(missing[:3])}", HINTS["names"])
    for name, value in source.items():
        if mine[name].shape != value.shape:
            raise CheckFailed(
                f"{name} has shape {tuple(mine[name].shape)}, expected {tuple(value.shape)}", HINTS["names"]
            )
    with torch.no_grad():
        for name, p in block.state_dict(keep_vars=True).items():
            if name in source:
                p.copy_(source[name])


@check("transformer_block")
def check_transformer_block(TransformerBlock: type) -> None:  # noqa: N803 - the learner's class, by its name
    """Check the learner's ``TransformerBlock(d_model, n_heads, d_hidden=None, norm="pre")`` class.

    Contract: parts ``attn`` (``nn.MultiheadAttention(d_model, n_heads, batch_first=True)``),
    ``mlp`` (``fc1``, GELU, ``fc2``), ``norm1``, ``norm2`` (LayerNorms with ``weight`` and
    ``bias``); ``forward(x)`` on ``(batch, seq, d_model)``; ``norm="pre"`` computes
    ``x = x + attn(norm1(x)); x = x + mlp(norm2(x))``, ``norm="post"``
    ``x = norm1(x + attn(x)); x = norm2(x + mlp(x))``. Checked against
    ``torch.nn.TransformerEncoderLayer`` with ``norm_first`` set accordingly, on copied weights.
    """
    cls = require_class(TransformerBlock, "TransformerBlock", "check_transformer_block")
    x = torch.randn(BATCH, SEQ, D)
    for placement in ("pre", "post"):
        block = cls(D, HEADS, HIDDEN, norm=placement)
        layer = _torch_layer(norm_first=placement == "pre")
        _load(block, layer)
        block.eval()
        y = call_forward(block, x)
        with torch.no_grad():
            expected = layer(x)
            candidates = _candidates(reference.TransformerBlock.from_torch(layer), x, placement)
        compare(y, expected, f"norm={placement!r} output", HINTS.get(match_bug(y, candidates), ""))
