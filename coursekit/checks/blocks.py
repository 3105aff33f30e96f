"""Check for the learner's ``TransformerBlock``, in both norm placements.

The learner's block gets the weights of a ``torch.nn.TransformerEncoderLayer`` (random norm
gains and biases too, dropout 0, eval mode) and must compute what that layer computes with
``norm_first=True`` (``norm="pre"``: ``x + f(norm(x))``) and ``False`` (``norm="post"``:
``norm(x + f(x))``), values and gradients (input and every parameter).

A mismatch is diagnosed by running the same weights through every usual wiring mistake
(:func:`_wirings`: each sublayer's residual, norm, skip path and activation switched one at
a time and in pairs) and naming the one the learner's output reproduces.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from torch.nn import functional as F

from ..nn import block as reference
from .core import (
    SHARED_HINTS,
    CheckFailed,
    call_forward,
    check,
    clause,
    compare,
    compare_gradients,
    construct,
    extra_parameters,
    match_bug,
    require_class,
    require_from_scratch,
)

BATCH, SEQ, D, HEADS, HIDDEN = 2, 5, 8, 2, 12
SIGNATURE = 'TransformerBlock(d_model, n_heads, d_hidden=None, norm="pre")'

HINTS = {
    **SHARED_HINTS,
    "names": "name the parts as in the contract: attn (nn.MultiheadAttention, batch_first=True), "
    "mlp (with fc1 and fc2), norm1, norm2",
    "batch_first": "build the attention with nn.MultiheadAttention(d_model, n_heads, batch_first=True): "
    "the block's input is (batch, seq, d_model)",
    "attn_output": "keep the block's output (batch, seq, d_model): nn.MultiheadAttention returns "
    "(output, weights), use the output, [0], and keep the sequence dimension",
    "hidden": "pass d_hidden on to the MLP: MLP(d_model, d_hidden), so TransformerBlock(d_model, n_heads, "
    "d_hidden) has fc1 = nn.Linear(d_model, d_hidden)",
    "heads": "pass n_heads on to the attention: nn.MultiheadAttention(d_model, n_heads, batch_first=True)",
    "extra_params": "the contract's parameters are those of attn, mlp.fc1, mlp.fc2, norm1 and norm2 only; "
    "remove the extra ones",
    "default_hidden": "d_hidden defaults to 4 * d_model: pass it on to the MLP",
    "default_norm": 'norm defaults to "pre", the placement GPT-2 and most deep stacks use',
    "swapped": "pre-norm and post-norm are swapped: pre is x + f(norm(x)), post is norm(x + f(x))",
    "no_residual": "the residual is missing: each sublayer's output is added to its input, x + ...",
    "residual_one_sublayer": "only one sublayer has its residual: both attention and the MLP get one, "
    "x = x + attn(...), then x = x + mlp(...)",
    "residual_twice": "x is added twice: each sublayer adds its input once",
    "norm_on_skip": "the norm is applied to the skip path too: keep x itself on the shortcut, x + f(norm(x))",
    "shared_norm": "each sublayer has its own norm: norm1 before (or after) attention, norm2 for the MLP",
    "no_norm": "a norm is missing: norm1 goes with the attention sublayer and norm2 with the MLP",
    "norms_swapped": "norm1 belongs to the attention sublayer and norm2 to the MLP, not the other way round",
    "activation_missing": "the MLP has no activation between fc1 and fc2; two linear layers in a row are one "
    "linear map",
    "activation": "this course's MLP uses the exact GELU (F.gelu or nn.GELU()) between fc1 and fc2",
    "attn_inputs": "give the attention the same tensor as query, key and value: h = norm1(x); attn(h, h, h)",
    "scaled": "add each sublayer's output as it is, x + f(...), with no scale on the branch or the sum",
    "final_norm": "a pre-norm block returns x + mlp(norm2(x)) as it is: no norm after the last residual "
    "(a deep stack adds one final norm, once, after its last block)",
    "norm_on_branch": "post-norm normalises the sum: norm1(x + attn(x)), not x + norm1(attn(x))",
    "causal": "this block's forward takes no mask: the check calls forward(x) and expects attention over "
    "every position",
    "parallel": "the sublayers run in sequence: the MLP takes x after the attention's residual, "
    "not the block's input",
    "detached": "the gradient does not match: is part of the computation detached "
    "(.detach(), .data, torch.no_grad()) or a branch computed from a copy?",
    "from_scratch": "build the block from its parts (attn, mlp, norm1, norm2); do not subclass or wrap "
    "torch.nn.TransformerEncoderLayer or coursekit.TransformerBlock",
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


def _wire(
    layer: nn.TransformerEncoderLayer,
    x: torch.Tensor,
    placement: str,
    residual: tuple[int, int] = (1, 1),
    norms: tuple[object, object] = ("norm1", "norm2"),
    skip_normed: tuple[bool, bool] = (False, False),
    act: object = F.gelu,
    raw_kv: bool = False,
    parallel: bool = False,
    branch_normed: bool = False,
    causal: bool = False,
) -> torch.Tensor:
    """The block's output with each sublayer wired as told (``residual``: 0, 1 or 2 copies of x)."""

    def norm(i: int, h: torch.Tensor) -> torch.Tensor:
        which = norms[i]
        return h if which is None else getattr(layer, which)(h)

    def attn(h: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        kv = source if raw_kv else h
        mask = torch.ones(h.shape[1], h.shape[1], dtype=torch.bool).triu(1) if causal else None
        return layer.self_attn(h, kv, kv, need_weights=False, attn_mask=mask)[0]

    def mlp(h: torch.Tensor) -> torch.Tensor:
        return layer.linear2(act(layer.linear1(h)))

    if parallel:  # both sublayers read the block's input: x + attn(norm1(x)) + mlp(norm2(x))
        return x + attn(norm(0, x), x) + mlp(norm(1, x))
    sublayers = [attn, lambda h, source: mlp(h)]
    for i, f in enumerate(sublayers):
        if placement == "pre":
            h = norm(i, x)
            x = residual[i] * (h if skip_normed[i] else x) + f(h, x)
        elif branch_normed:
            x = residual[i] * x + norm(i, f(x, x))
        else:
            x = norm(i, residual[i] * x + f(x, x))
    return x


def _wirings(layer: nn.TransformerEncoderLayer, x: torch.Tensor, placement: str) -> dict[str, torch.Tensor]:
    """Each known wiring mistake's output, in the order their hints are tried."""
    other = "post" if placement == "pre" else "pre"
    w = {"swapped": _wire(layer, x, other), "no_residual": _wire(layer, x, placement, residual=(0, 0))}
    for r in [(1, 0), (0, 1)]:
        w[f"residual_one_sublayer{r}"] = _wire(layer, x, placement, residual=r)
    for r in [(2, 2), (2, 1), (1, 2)]:
        w[f"residual_twice{r}"] = _wire(layer, x, placement, residual=r)
    if placement == "pre":
        for s in [(True, True), (True, False), (False, True)]:
            w[f"norm_on_skip{s}"] = _wire(layer, x, placement, skip_normed=s)
        w["parallel"] = _wire(layer, x, placement, parallel=True)
    for n in [("norm1", "norm1"), ("norm2", "norm2")]:
        w[f"shared_norm{n}"] = _wire(layer, x, placement, norms=n)
    w["norms_swapped"] = _wire(layer, x, placement, norms=("norm2", "norm1"))
    for n in [(None, None), (None, "norm2"), ("norm1", None)]:
        w[f"no_norm{n}"] = _wire(layer, x, placement, norms=n)
    w["activation_missing"] = _wire(layer, x, placement, act=lambda h: h)
    w["activation"] = _wire(layer, x, placement, act=F.relu)
    w["activation_tanh"] = _wire(layer, x, placement, act=lambda h: F.gelu(h, approximate="tanh"))
    w["attn_inputs"] = _wire(layer, x, placement, raw_kv=True)
    w["causal"] = _wire(layer, x, placement, causal=True)
    if placement == "pre":
        w["final_norm(norm2)"] = layer.norm2(_wire(layer, x, placement))
        w["final_norm(norm1)"] = layer.norm1(_wire(layer, x, placement))
    else:
        w["norm_on_branch"] = _wire(layer, x, placement, branch_normed=True)
    # a placement swapped and one sublayer's residual missing: the usual combined slip
    for r in [(1, 0), (0, 1)]:
        w[f"swapped{r}"] = _wire(layer, x, other, residual=r)
    for r in [(2, 2), (2**0.5, 2**0.5)]:  # each branch scaled by 1/2 or 1/sqrt(2): the same as x scaled up
        scaled = _wire(layer, x * r[0], placement)
        w[f"scaled{r}"] = scaled / r[0] if placement == "pre" else scaled
    return w


def _bug(name: str) -> str:
    base = name.split("(")[0]
    return {"activation_tanh": "activation"}.get(base, base)


def _load(block: nn.Module, layer: nn.TransformerEncoderLayer) -> reference.TransformerBlock:
    ref = reference.TransformerBlock.from_torch(layer)
    source = ref.state_dict()
    mine = block.state_dict()
    missing = sorted(set(source) - set(mine))
    if missing:
        raise CheckFailed(f"the block has no parameter(s) {', '.join(missing[:3])}", HINTS["names"])
    for name, value in source.items():
        if mine[name].shape != value.shape:
            hint = HINTS["hidden"] if name.startswith("mlp.") else HINTS["names"]
            raise CheckFailed(
                f"{name} has shape {tuple(mine[name].shape)}, expected {tuple(value.shape)}", hint
            )
    extra = extra_parameters(block, lambda n: n in source)
    if extra:
        raise CheckFailed(
            f"the block has parameter(s) {', '.join(extra[:3])} the contract has not", HINTS["extra_params"]
        )
    with torch.no_grad():
        for name, p in block.state_dict(keep_vars=True).items():
            if name in source:
                p.copy_(source[name])
    return ref


def _contract(cls: type) -> None:
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return
    norm = parameters.get("norm")
    if norm is not None and norm.default != "pre":
        raise CheckFailed(
            f"the contract says {SIGNATURE}; norm defaults to {norm.default!r}", HINTS["default_norm"]
        )
    block = construct(cls, "TransformerBlock", SIGNATURE, D, HEADS)
    attn = getattr(block, "attn", None)
    if not isinstance(attn, nn.MultiheadAttention):
        raise CheckFailed(
            "TransformerBlock(d_model, n_heads).attn is not an nn.MultiheadAttention", HINTS["names"]
        )
    if not attn.batch_first:
        raise CheckFailed("attn was built without batch_first=True", HINTS["batch_first"])
    if attn.num_heads != HEADS:
        raise CheckFailed(
            f"TransformerBlock({D}, n_heads={HEADS}).attn has {attn.num_heads} head(s)", HINTS["heads"]
        )
    fc1 = getattr(getattr(block, "mlp", None), "fc1", None)
    if getattr(fc1, "out_features", 4 * D) != 4 * D:
        raise CheckFailed(
            f"TransformerBlock({D}, {HEADS}).mlp.fc1 has {fc1.out_features} outputs, expected {4 * D}",
            HINTS["default_hidden"],
        )


@check("transformer_block")
def check_transformer_block(TransformerBlock: type) -> None:  # noqa: N803 - the learner's class, by its name
    """Check the learner's ``TransformerBlock(d_model, n_heads, d_hidden=None, norm="pre")`` class.

    Contract: parts ``attn`` (``nn.MultiheadAttention(d_model, n_heads, batch_first=True)``),
    ``mlp`` (``fc1``, GELU, ``fc2``), ``norm1``, ``norm2`` (LayerNorms with ``weight`` and
    ``bias``); ``forward(x)`` on ``(batch, seq, d_model)``; ``norm="pre"`` computes
    ``x = x + attn(norm1(x)); x = x + mlp(norm2(x))``, ``norm="post"``
    ``x = norm1(x + attn(x)); x = norm2(x + mlp(x))``. Checked against
    ``torch.nn.TransformerEncoderLayer`` with ``norm_first`` set accordingly, on copied
    weights: values, and gradients with respect to the input and every parameter.
    """
    cls = require_class(TransformerBlock, "TransformerBlock", "check_transformer_block")
    forbidden = (nn.TransformerEncoderLayer, reference.TransformerBlock)
    try:
        require_from_scratch(cls, forbidden, "torch.nn.TransformerEncoderLayer")
    except CheckFailed as exc:
        raise CheckFailed(exc.message, HINTS["from_scratch"]) from None
    _contract(cls)
    x = torch.randn(BATCH, SEQ, D)
    for placement in ("pre", "post"):
        block = construct(cls, "TransformerBlock", SIGNATURE, D, HEADS, HIDDEN, norm=placement)
        try:
            require_from_scratch(block, forbidden, "torch.nn.TransformerEncoderLayer")
        except CheckFailed as exc:
            raise CheckFailed(exc.message, HINTS["from_scratch"]) from None
        layer = _torch_layer(norm_first=placement == "pre")
        with clause("the block's parameters could not be set to the reference's", HINTS["names"]):
            ref = _load(block, layer)
        block.eval()
        y = call_forward(block, x, shape_hint=HINTS["attn_output"])
        with torch.no_grad():
            expected = layer(x)
            candidates = _wirings(layer, x, placement)
        bug = _bug(match_bug(y, candidates))
        compare(y, expected, f"norm={placement!r} output", HINTS.get(bug, ""))
        names = [n for n, _ in ref.named_parameters()]
        compare_gradients(block, ref.eval(), x, names, HINTS["detached"])
