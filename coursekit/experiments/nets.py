"""The experiments' own models: a deep BatchNorm MLP for digits, a sorting transformer.

Both keep their blocks in a ``ModuleList`` called ``blocks`` (what the probes and the
trainer's per-layer gradient norms read), and both can be trained many at once by
:func:`coursekit.train.train_many`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..stacks import Stack, StackConfig
from ..validate import require_choice, require_positive_float, require_positive_int

SHORTCUTS = ("none", "identity", "scaled", "gated", "concat")


class MLPBlock(nn.Module):
    r"""One layer ``h = relu(BN(W x))`` with a shortcut around it.

    - ``none``: ``h`` (a plain layer); ``identity``: ``x + h`` (He et al. 2015);
      ``scaled``: ``s x + h`` (He et al. 2016, shortcut × 0.5);
    - ``gated``: ``(1 - g) x + g h`` with ``g = sigmoid(W_g x + b_g)`` (exclusive gating,
      He et al. 2016, Highway networks);
    - ``concat``: ``W_c [x; h]``, a learned projection of the concatenation (a U-Net-style
      merge: a skip, but not a residual).

    ``none``, ``identity`` and ``scaled`` differ only in the buffer ``skip`` (0, 1, ``s``),
    so variants of these three share one structure and train in one batch.
    BatchNorm uses batch statistics at train and test time (``track_running_stats=False``).
    """

    def __init__(self, width: int, shortcut: str = "identity", scale: float = 0.5) -> None:
        super().__init__()
        self.shortcut = require_choice("shortcut", shortcut, SHORTCUTS)
        self.linear = nn.Linear(width, width, bias=False)
        self.bn = nn.BatchNorm1d(width, track_running_stats=False)
        skip = {"none": 0.0, "identity": 1.0, "scaled": require_positive_float("scale", scale)}
        self.register_buffer("skip", torch.tensor(skip.get(shortcut, 0.0)))
        if shortcut == "gated":
            self.gate = nn.Linear(width, width)
            nn.init.constant_(self.gate.bias, -1.0)  # start near the shortcut, as Highway nets do
        if shortcut == "concat":
            self.merge = nn.Linear(2 * width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.linear(x)))  # (batch, width)
        if self.shortcut == "gated":
            g = torch.sigmoid(self.gate(x))
            return (1 - g) * x + g * h
        if self.shortcut == "concat":
            return self.merge(torch.cat([x, h], dim=-1))  # (batch, 2 * width) -> (batch, width)
        return self.skip * x + h

    def extra_repr(self) -> str:
        return "additive" if self.shortcut in ("none", "identity", "scaled") else self.shortcut


class DeepMLP(nn.Module):
    """``depth`` :class:`MLPBlock` s between a stem and a linear head: the degradation net.

    ``stem``: Linear → BN → ReLU from ``d_in`` to ``width``; then ``norm`` (BN) and ``head``
    (Linear to ``n_classes``). The final norm, as in pre-activation ResNets (He et al. 2016),
    keeps the head's input at unit scale however much an identity-skip stream has grown.
    The width-64 digits net of SCIENCE.md (He et al. 2015's plain/residual pair in miniature).
    """

    def __init__(
        self,
        depth: int,
        width: int = 64,
        d_in: int = 64,
        n_classes: int = 10,
        shortcut: str = "identity",
        scale: float = 0.5,
    ) -> None:
        super().__init__()
        require_positive_int("depth", depth)
        require_positive_int("width", width)
        self.stem = nn.Sequential(
            nn.Linear(d_in, width, bias=False), nn.BatchNorm1d(width, track_running_stats=False), nn.ReLU()
        )
        self.blocks = nn.ModuleList(MLPBlock(width, shortcut, scale) for _ in range(depth))
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


class SequenceModel(nn.Module):
    """Token and position embeddings → a :class:`~coursekit.Stack` of transformer blocks →
    (a final LayerNorm for pre-norm) → per-position logits. The sorting model.

    The final norm follows GPT-2: a pre-norm stream is never normalised otherwise.
    ``embed_std`` 0.02 (GPT-2's) lets the blocks, not the input, set the stream's scale.
    """

    def __init__(self, config: StackConfig, vocab: int, seq: int, embed_std: float = 1.0) -> None:
        super().__init__()
        if config.block != "transformer":
            raise ValueError(f"SequenceModel needs block='transformer', got {config.block!r}")
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
