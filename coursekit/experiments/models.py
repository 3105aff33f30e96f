"""The experiments' own models: BatchNormNet (a deep BatchNorm MLP for the digits) and
TokenTransformer (embeddings, a stack of transformer blocks, per-position logits).

Both keep their blocks in a ``ModuleList`` called ``blocks`` (what the probes and the
trainer's per-layer gradient norms read), and both can be trained many at once by
:func:`coursekit.train_many` (each gathers its own weights by name for the engine).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..data import DIGITS_CLASSES
from ..engine.fused import BatchNormNetWeights, bn_net_stacked
from ..engine.layers import batch_norm_stacked, layer_norm_stacked, linear_stacked, transformer_block_stacked
from ..nn import Stack, StackConfig
from ..training import TrainConfig
from ..validate import require_choice, require_positive_float, require_positive_int

# the two arms of a with/without-skips comparison, without first: the keys of their results
SKIP_ARMS = ("plain", "residual")
SHORTCUTS = ("none", "identity", "scaled", "gated", "projected")
# the shortcuts that only scale the input (by the buffer ``skip``: 0, 1, ``scale``): one structure,
# one batch, and the engine's fused stack
ADDITIVE = SHORTCUTS[:3]


@dataclass(frozen=True)
class DigitsRunConfig:
    """How :class:`BatchNormNet` s of one depth are trained on the digits (SGD, as in docs/science.md)."""

    depth: int = 12
    width: int = 64
    lr: float = 0.05
    epochs: int = 30
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("depth", "width", "epochs", "batch_size"):
            require_positive_int(name, getattr(self, name))
        require_positive_float("lr", self.lr)


def digits_training(epochs: int, batch_size: int, lr: float, n_train: int, seed: int = 0) -> TrainConfig:
    """SGD for ``epochs`` passes over ``n_train`` examples, logging ten times along the way."""
    if batch_size > n_train:
        raise ValueError(f"batch_size ({batch_size}) must not exceed the {n_train} training examples")
    steps = epochs * (n_train // batch_size)
    return TrainConfig(steps=steps, lr=lr, batch_size=batch_size, log_every=max(1, steps // 10), seed=seed)


def batch_norm_stem(d_in: int, width: int) -> nn.Sequential:
    """Linear → BatchNorm → ReLU from ``d_in`` to ``width``: the stem of every digits net
    (``stem.0`` and ``stem.1`` are what the stacked forwards read)."""
    return nn.Sequential(
        nn.Linear(d_in, width, bias=False), nn.BatchNorm1d(width, track_running_stats=False), nn.ReLU()
    )


def digits_net_stacked(
    p: dict[str, torch.Tensor],
    x: torch.Tensor,
    depth: int,
    layers: int = 1,
    post_relu: bool = False,
    eps: float = 1e-5,
    active: tuple[int, ...] | None = None,
) -> torch.Tensor:
    """The fused ``forward_stacked`` of a :class:`BatchNormNet` of additive blocks: ``stem``
    (:func:`batch_norm_stem`), ``depth`` blocks of ``layers`` Linear → BatchNorm layers
    (``blocks.{i}.linears.{j}``, ``blocks.{i}.norms.{j}``) and a buffer ``skip``, a final
    BatchNorm ``norm`` and a Linear ``head``, through the engine's fused stack
    (:func:`coursekit.engine.fused.bn_net_stacked`, which reads no names: they are gathered
    here). ``x`` ``(batch, d_in)``; returns ``(variant, batch, n_classes)``."""
    grid = [
        [(f"blocks.{i}.linears.{j}.weight", f"blocks.{i}.norms.{j}") for j in range(layers)]
        for i in range(depth)
    ]
    weights = BatchNormNetWeights(
        stem=p["stem.0.weight"],
        stem_norm=(p["stem.1.weight"], p["stem.1.bias"]),
        weights=[[p[w] for w, _ in row] for row in grid],
        bn_weights=[[p[n + ".weight"] for _, n in row] for row in grid],
        bn_biases=[[p[n + ".bias"] for _, n in row] for row in grid],
        skips=[p[f"blocks.{i}.skip"] for i in range(depth)],
        norm=(p["norm.weight"], p["norm.bias"]),
        head=(p["head.weight"], p["head.bias"]),
    )
    return bn_net_stacked(weights, x, post_relu=post_relu, eps=eps, active=active)


class BatchNormBlock(nn.Module):
    r"""``layers`` Linear → BatchNorm layers with a ReLU after each,
    ``h = relu(BN(W_n ... relu(BN(W_1 x))))``, and a shortcut around all of them:

    - ``none``: ``h`` (plain layers); ``identity``: ``x + h`` (He et al. 2015);
      ``scaled``: ``s x + h`` (He et al. 2016, shortcut × 0.5);
    - ``gated``: ``(1 - g) x + g h`` with ``g = sigmoid(W_g x + b_g)`` (exclusive gating,
      He et al. 2016, Highway networks); ``b_g`` starts at ``gate_bias``: at −1 the shortcut
      carries ``1 - sigmoid(-1) ≈ 0.73`` per block (0.73³² ≈ 4e-5 over 32 blocks: a plain net
      at init), at −6 it carries 0.998 (He et al. needed −6 for their 8.70 %);
    - ``projected``: ``W_c [x; h]``, a learned projection of the concatenation (a U-Net-style
      merge: a skip, but neither a residual nor DenseNet, whose width grows).

    ``post_relu`` moves the last ReLU after the sum: ``relu(skip * x + BN(W_n ...))``, He et al.
    2015's basic block (two layers), the degradation net of lesson 5.

    ``none``, ``identity`` and ``scaled`` differ only in the buffer ``skip`` (0, 1, ``s``),
    so variants of these three share one structure and train in one batch.
    BatchNorm uses batch statistics at train and test time (``track_running_stats=False``).
    """

    def __init__(
        self,
        width: int,
        shortcut: str = "identity",
        scale: float = 0.5,
        gate_bias: float = -1.0,
        *,
        layers: int = 1,
        post_relu: bool = False,
    ) -> None:
        super().__init__()
        self.shortcut = require_choice("shortcut", shortcut, SHORTCUTS)
        require_positive_int("layers", layers)
        if not isinstance(post_relu, bool):
            raise TypeError(f"post_relu must be True or False, got {post_relu!r}")
        self.post_relu = post_relu
        self.linears = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(width, track_running_stats=False) for _ in range(layers))
        skip = {"none": 0.0, "identity": 1.0, "scaled": require_positive_float("scale", scale)}
        self.register_buffer("skip", torch.tensor(skip.get(shortcut, 0.0)))
        if shortcut == "gated":
            self.gate = nn.Linear(width, width)
            if isinstance(gate_bias, bool) or not isinstance(gate_bias, (int, float)):
                raise TypeError(f"gate_bias must be a number, got {gate_bias!r}")
            nn.init.constant_(self.gate.bias, float(gate_bias))  # negative: lean on the shortcut
        if shortcut == "projected":
            self.merge = nn.Linear(2 * width, width, bias=False)

    def _relu_after(self, j: int) -> bool:
        """Whether layer ``j`` ends with its own ReLU: all do, but the last when ``post_relu``."""
        return j < len(self.linears) - 1 or not self.post_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x  # (batch, width)
        for j, (linear, norm) in enumerate(zip(self.linears, self.norms, strict=True)):
            h = norm(linear(h))
            if self._relu_after(j):
                h = F.relu(h)
        if self.shortcut == "gated":
            g = torch.sigmoid(self.gate(x))
            out = torch.lerp(x, h, g)  # (1 - g) x + g h
        elif self.shortcut == "projected":
            out = self.merge(torch.cat([x, h], dim=-1))  # (batch, 2 * width) -> (batch, width)
        else:
            out = self.skip * x + h
        return F.relu(out) if self.post_relu else out

    def forward_stacked(self, p: dict[str, torch.Tensor], prefix: str, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` for ``variant`` stacked copies: weights ``(variant, ...)`` under
        ``prefix`` in ``p`` (buffers included), ``x`` ``(variant, batch, width)``."""
        h = x
        for j in range(len(self.linears)):
            h = batch_norm_stacked(
                torch.bmm(h, p[f"{prefix}linears.{j}.weight"].transpose(1, 2)),
                p[f"{prefix}norms.{j}.weight"],
                p[f"{prefix}norms.{j}.bias"],
                relu=self._relu_after(j),
            )  # (variant, batch, width)
        if self.shortcut == "gated":
            g = torch.sigmoid(linear_stacked(x, p[prefix + "gate.weight"], p[prefix + "gate.bias"]))
            out = torch.lerp(x, h, g)  # (1 - g) x + g h
        elif self.shortcut == "projected":
            out = torch.bmm(torch.cat([x, h], dim=-1), p[prefix + "merge.weight"].transpose(1, 2))
        else:
            out = torch.addcmul(h, p[prefix + "skip"].view(-1, 1, 1), x)
        return F.relu(out) if self.post_relu else out

    def extra_repr(self) -> str:
        # the additive shortcuts differ only in the buffer skip: one structure, one repr
        kind = "" if self.shortcut in ADDITIVE else f", shortcut={self.shortcut!r}"
        return f"layers={len(self.linears)}{kind}" + (", post_relu=True" if self.post_relu else "")


class BatchNormNet(nn.Module):
    """``depth`` :class:`BatchNormBlock` s between a stem and a linear head: the digits net of
    every lesson that trains one.

    ``stem``: Linear → BN → ReLU from ``d_in`` to ``width``; then ``norm`` (BN) and ``head``
    (Linear to ``n_classes``). The final norm, as in pre-activation ResNets (He et al. 2016),
    keeps the head's input at unit scale however much an identity-skip stream has grown.
    The width-64 digits net of docs/science.md (He et al. 2015's plain/residual pair in miniature):
    one layer per block by default; ``layers_per_block=2, post_relu=True`` is He et al.'s basic
    block (lesson 5's degradation net). Nets that differ only in an additive ``shortcut``
    (``none``, ``identity``, ``scaled``) have the same parameters and, built after the same
    ``seed_everything(seed)``, the same initial weights. Weighted layers:
    ``depth * layers_per_block + 2`` (He et al. count a "plain-20" this way).
    """

    def __init__(
        self,
        depth: int,
        width: int = 64,
        d_in: int = 64,
        n_classes: int = DIGITS_CLASSES,
        shortcut: str = "identity",
        scale: float = 0.5,
        gate_bias: float = -1.0,
        *,
        layers_per_block: int = 1,
        post_relu: bool = False,
    ) -> None:
        super().__init__()
        require_positive_int("depth", depth)
        require_positive_int("width", width)
        self.stem = batch_norm_stem(d_in, width)
        self.blocks = nn.ModuleList(
            BatchNormBlock(width, shortcut, scale, gate_bias, layers=layers_per_block, post_relu=post_relu)
            for _ in range(depth)
        )
        self.norm = nn.BatchNorm1d(width, track_running_stats=False)
        self.head = nn.Linear(width, n_classes)

    def hidden_states(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stream after the stem and after every block, ``depth + 1`` tensors ``(batch, width)``."""
        states = [self.stem(x)]
        for block in self.blocks:
            states.append(block(states[-1]))
        return states

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (batch, width)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # (batch, n_classes)

    def forward_stacked(
        self, p: dict[str, torch.Tensor], x: torch.Tensor, active: tuple[int, ...] | None = None
    ) -> torch.Tensor:
        """:meth:`forward` of ``variant`` copies at once, their weights and buffers stacked in ``p``
        (as ``torch.func.stack_module_state`` makes them): explicit batched matmuls, which run
        faster than ``vmap`` over :meth:`forward` (see ``coursekit bench``). ``x`` ``(batch, d_in)``.

        When every block is additive (none, identity, scaled: a buffer ``skip`` on ``x``), the
        whole stack of blocks is one autograd node with a hand-written backward, on activations
        laid out ``(batch, variant, width)`` (:func:`digits_net_stacked`):
        the same numbers, bit for bit, in far fewer ops. Otherwise each block's own
        :meth:`BatchNormBlock.forward_stacked` runs.

        ``active[i]``: how many variants, the first ones, run block ``i`` (the others pass their
        input through): variants of several depths in one run
        (:func:`coursekit.engine.train_depth_sweep`)."""
        blocks = list(self.blocks)
        if all(b.shortcut in ADDITIVE for b in blocks):
            layers = len(blocks[0].linears)
            post_relu = blocks[0].post_relu
            return digits_net_stacked(
                p, x, len(blocks), layers, post_relu=post_relu, eps=self.norm.eps, active=active
            )  # (variant, batch, n_classes)
        if active is not None:
            raise ValueError("variants of several depths train together only with additive shortcuts")
        h = torch.matmul(x, p["stem.0.weight"].transpose(1, 2))  # (variant, batch, width)
        h = batch_norm_stacked(h, p["stem.1.weight"], p["stem.1.bias"], relu=True)
        for i, block in enumerate(blocks):
            h = block.forward_stacked(p, f"blocks.{i}.", h)
        h = batch_norm_stacked(h, p["norm.weight"], p["norm.bias"])
        return linear_stacked(h, p["head.weight"], p["head.bias"])  # (variant, batch, n_classes)


class TokenTransformer(nn.Module):
    """Token and position embeddings → a :class:`~coursekit.Stack` of transformer blocks →
    (a final LayerNorm for pre-norm) → per-position logits. The sorting model.

    The final norm follows GPT-2: a pre-norm stream is never normalised otherwise.
    ``embed_std`` 0.02 (GPT-2's) lets the blocks, not the input, set the stream's scale.
    """

    def __init__(self, config: StackConfig, vocab: int, seq: int, embed_std: float = 1.0) -> None:
        super().__init__()
        if config.block != "transformer":
            raise ValueError(f"TokenTransformer needs block='transformer', got {config.block!r}")
        self.embed = nn.Embedding(vocab, config.d_model)
        nn.init.normal_(self.embed.weight, std=require_positive_float("embed_std", embed_std))
        self.pos = nn.Parameter(torch.randn(seq, config.d_model) * 0.02)
        self.stack = Stack(config)
        self.final_norm = nn.LayerNorm(config.d_model) if config.norm == "pre" else nn.Identity()
        self.head = nn.Linear(config.d_model, vocab)

    def hidden_states(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The embedded input and the stream after every block, each ``(batch, seq, d_model)``."""
        return self.stack.hidden_states(self.embed(tokens) + self.pos)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos  # (batch, seq, d_model)
        return self.head(self.final_norm(self.stack(x)))  # (batch, seq, vocab)

    def forward_stacked(
        self, p: dict[str, torch.Tensor], tokens: torch.Tensor, active: tuple[int, ...] | None = None
    ) -> torch.Tensor:
        """:meth:`forward` of ``variant`` copies at once, their weights stacked in ``p``, in batched
        ops (:mod:`coursekit.engine.layers`; ~3x faster to train than ``vmap`` over :meth:`forward`).
        ``tokens`` ``(batch, seq)``; returns ``(variant, batch, seq, vocab)``.

        ``active[i]``: how many variants, the first ones, run block ``i``; the others' stream
        passes it unchanged (variants of several depths in one run,
        :func:`coursekit.engine.train_depth_sweep`)."""
        x = p["embed.weight"][:, tokens] + p["pos"].unsqueeze(1)  # (variant, batch, seq, d_model)
        for i, block in enumerate(self.stack.blocks):
            prefix, n = f"stack.blocks.{i}.", x.shape[0] if active is None else active[i]
            if n == x.shape[0]:
                x = transformer_block_stacked(block, p, prefix, x)
            else:  # the first n variants run the block
                own = {prefix + k: p[prefix + k][:n] for k in block.state_dict(keep_vars=True)}
                x = torch.cat([transformer_block_stacked(block, own, prefix, x[:n]), x[n:]])
        if isinstance(self.final_norm, nn.LayerNorm):
            x = layer_norm_stacked(x, p["final_norm.weight"], p["final_norm.bias"], self.final_norm.eps)
        return linear_stacked(x, p["head.weight"], p["head.bias"])  # (variant, batch, seq, vocab)
