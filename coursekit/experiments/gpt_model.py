"""A decoder-only, character-level GPT built from whichever blocks it is given.

The blocks come as :class:`BlockParts`: the course's reference classes, or the learner's own
``LayerNorm``, ``MLP`` and ``TransformerBlock`` from exercises 2-4 (which meet the same contract:
PyTorch's names, ``attn``/``mlp``/``norm1``/``norm2``, ``forward(x, causal=False)``). The model is
nanoGPT's, minus dropout and weight tying::

    x = tok_emb(ids) + pos_emb(positions)        # (batch, seq, d_model)
    x = block(x, causal=True)  for each block    # the learner's TransformerBlock
    logits = head(norm(x))                       # (batch, seq, vocab)

Every arm of the capstone starts from the same weights: :func:`init_weights` sets each parameter
by its *name*, so the reference blocks and the learner's (same names) start identically too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..nn import MLP, NORMED_PLACEMENTS, LayerNorm, TransformerBlock, add_and_norm
from ..validate import require_choice, require_positive_int


@dataclass(frozen=True)
class BlockParts:
    """The classes a GPT is built from, and where each came from (shown by the lesson)."""

    LayerNorm: type  # LayerNorm(normalized_shape), with weight and bias
    MLP: type  # MLP(d_model, d_hidden=None), with fc1 and fc2
    TransformerBlock: type  # TransformerBlock(d_model, n_heads, d_hidden=None, norm="pre")
    sources: tuple[str, ...] = ("reference", "reference", "reference")  # one line per class

    def describe(self) -> str:
        names = ("LayerNorm", "MLP", "TransformerBlock")
        return "\n".join(f"{name:16} {source}" for name, source in zip(names, self.sources, strict=True))


REFERENCE_PARTS = BlockParts(LayerNorm, MLP, TransformerBlock)


def attend(attn: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """Causal self-attention of ``h`` ``(batch, seq, d_model)`` by ``attn``: an
    ``nn.MultiheadAttention`` (``batch_first``, the exercise's contract) or the reference one."""
    if isinstance(attn, nn.MultiheadAttention):
        seq = h.shape[1]
        mask = torch.ones(seq, seq, dtype=torch.bool, device=h.device).triu(1)  # True: may not attend
        return attn(h, h, h, attn_mask=mask, need_weights=False)[0]
    return attn(h, causal=True)


class NoSkipBlock(nn.Module):
    """``block``'s own sublayers with the ``x +`` of both removed, and nothing else:
    ``x = attn(norm1(x)); x = mlp(norm2(x))`` (pre) or ``x = norm1(attn(x)); x = norm2(mlp(x))``
    (post). Same parameters, same names (``block.``), as the block it wraps."""

    def __init__(self, block: nn.Module, norm: str) -> None:
        super().__init__()
        self.block = block
        self.norm = require_choice("norm", norm, NORMED_PLACEMENTS)

    def forward(self, x: torch.Tensor, causal: bool = True) -> torch.Tensor:
        b = self.block
        x = add_and_norm(x, lambda h: attend(b.attn, h), b.norm1, self.norm, residual=False)
        return add_and_norm(x, b.mlp, b.norm2, self.norm, residual=False)  # (batch, seq, d_model)


@dataclass(frozen=True)
class GPTShape:
    """The model's sizes and wiring; the training set-up lives in ``GPTConfig``."""

    vocab_size: int
    depth: int = 4  # transformer blocks
    d_model: int = 32  # width of the residual stream
    n_heads: int = 4
    seq: int = 32  # context length in characters
    norm: str = "pre"  # "pre": x + f(norm(x)); "post": norm(x + f(x))
    residual: bool = True  # False: the same blocks without their skips (NoSkipBlock)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "depth", "d_model", "n_heads", "seq"):
            require_positive_int(name, getattr(self, name))
        require_choice("norm", self.norm, NORMED_PLACEMENTS)
        if not isinstance(self.residual, bool):
            raise TypeError(f"residual must be True or False, got {self.residual!r}")


class GPT(nn.Module):
    """Token and position embeddings, ``depth`` causal blocks, a final norm and a linear head."""

    def __init__(self, shape: GPTShape, parts: BlockParts = REFERENCE_PARTS, seed: int = 0) -> None:
        super().__init__()
        self.shape = shape
        d = shape.d_model
        self.tok_emb = nn.Embedding(shape.vocab_size, d)
        self.pos_emb = nn.Embedding(shape.seq, d)
        self.blocks = nn.ModuleList(_block(shape, parts) for _ in range(shape.depth))
        self.norm = parts.LayerNorm(d)
        self.head = nn.Linear(d, shape.vocab_size)
        init_weights(self, seed)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        seq = ids.shape[1]
        if seq > self.shape.seq:
            raise ValueError(f"at most {self.shape.seq} characters of context, got {seq}")
        x = self.tok_emb(ids) + self.pos_emb.weight[:seq]  # (batch, seq, d_model)
        for block in self.blocks:
            x = block(x, causal=True)
        return self.head(self.norm(x))  # (batch, seq, vocab)


def _block(shape: GPTShape, parts: BlockParts) -> nn.Module:
    """The parts' TransformerBlock, holding the parts' own MLP and LayerNorms; without its skips
    when ``shape.residual`` is False."""
    block = parts.TransformerBlock(shape.d_model, shape.n_heads, norm=shape.norm)
    block.mlp = parts.MLP(shape.d_model)  # the exercise-4 block may carry its own copies:
    block.norm1 = parts.LayerNorm(shape.d_model)  # use the ones from exercises 2 and 3
    block.norm2 = parts.LayerNorm(shape.d_model)
    return block if shape.residual else NoSkipBlock(block, shape.norm)


@torch.no_grad()
def init_weights(model: nn.Module, seed: int = 0) -> None:
    """PyTorch's default initialisation, drawn parameter by parameter in name order from ``seed``,
    so the same names give the same weights whoever wrote the classes (``NoSkipBlock``'s extra
    ``block.`` is ignored): embeddings N(0, 1); attention's ``in_proj_weight`` Xavier-uniform and
    its biases 0 (as ``nn.MultiheadAttention``); norms' gains 1 and biases 0; every other weight
    and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (as ``nn.Linear``)."""
    g = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    for name in sorted(params, key=lambda n: n.replace("block.", "")):
        p, owner, leaf = params[name], name.rsplit(".", 1)[0], name.rsplit(".", 1)[-1]
        if "emb" in owner:
            p.copy_(torch.randn(p.shape, generator=g))
        elif (
            ".norm" in f".{owner}" or leaf == "in_proj_bias" or owner.endswith("out_proj") and leaf == "bias"
        ):
            p.fill_(1.0 if leaf == "weight" else 0.0)
        elif leaf == "in_proj_weight":
            bound = math.sqrt(6 / (p.shape[0] + p.shape[1]))
            p.copy_(torch.empty(p.shape).uniform_(-bound, bound, generator=g))
        else:
            fan_in = params[f"{owner}.weight"].shape[1] if leaf == "bias" else p.shape[1]
            bound = 1 / math.sqrt(fan_in)
            p.copy_(torch.empty(p.shape).uniform_(-bound, bound, generator=g))


@torch.no_grad()
def generate(
    model: GPT, prompt: torch.Tensor, length: int, temperature: float, generator: torch.Generator
) -> torch.Tensor:
    """``prompt`` ``(seq0,)`` followed by ``length`` sampled character ids (temperature 0: the
    most likely one each time); the model sees the last ``shape.seq`` characters."""
    ids = prompt.clone()
    for _ in range(require_positive_int("length", length)):
        logits = model(ids[-model.shape.seq :].unsqueeze(0))[0, -1]  # (vocab,)
        if temperature <= 0:
            nxt = logits.argmax().view(1)
        else:
            nxt = torch.multinomial((logits / temperature).softmax(-1), 1, generator=generator)
        ids = torch.cat([ids, nxt])
    return ids
