"""Why a residual and a LayerNorm around each sublayer of a decoder? Measured.

A small causal decoder (token and position embeddings, ``depth`` blocks of causal
self-attention and an MLP, a linear head) learns a toy next-token rule, trained from the
same initial weights with the residuals and norms switched on and off:

- ``residual+norm``: ``x = norm1(x + attn(x)); x = norm2(x + mlp(x))`` (post-norm, the
  original Transformer's "Add & Norm"), or the pre-norm ``x + f(norm(x))`` with ``norm="pre"``;
- ``no residuals``: the same without the ``x +`` of either sublayer;
- ``no norms``: the same without the LayerNorms (and, for pre-norm, the final one);
- ``attn residual only`` / ``MLP residual only``: the ``x +`` around one sublayer only;
- ``no MLP`` / ``no attention``: residual + norm, with one sublayer's branch switched off.

The switches live in buffers (``skip``, ``normed``), so every variant has the same
structure and all variants and seeds train as one batched computation (:func:`train_many`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.optim.adam import adam
from torch.optim.sgd import sgd

from ..data import Task
from ..engine import train_many
from ..engine.layers import attention_stacked, layer_norm_stacked, linear_stacked, mlp_stacked
from ..nn import MLP, NORMED_PLACEMENTS, SelfAttention, add_and_norm
from ..probes import parameter_counts, stream_norms
from ..seeding import seed_everything, single_threaded
from ..training import TrainConfig
from ..validate import require_choice, require_int_tuple, require_positive_float, require_positive_int

# variant -> (residual around attention, residual around the MLP, LayerNorms on,
#             attention sublayer on, MLP sublayer on)
VARIANTS = {
    "residual+norm": (True, True, True, True, True),
    "no residuals": (False, False, True, True, True),
    "no norms": (True, True, False, True, True),
    "attn residual only": (True, False, True, True, True),
    "MLP residual only": (False, True, True, True, True),
    # sublayers removed (lesson 3: what each one contributes)
    "no MLP": (True, True, True, True, False),
    "no attention": (True, True, True, False, True),
}
ABLATION = tuple(list(VARIANTS)[:5])
RULES = ("add", "shift")


def make_causal_task(
    rule: str = "shift", vocab: int = 10, seq: int = 8, n_train: int = 4096, seed: int = 0
) -> Task:
    """Random digit sequences ``(n, seq)`` and a target at every position that depends on the
    past only, so a causal model can reach zero loss:

    - ``shift``: ``y_t = x_{t-1}`` (``y_0 = x_0``): attention must fetch the previous token;
    - ``add``: ``y_t = (x_{t-1} + x_t) mod vocab`` (``y_0 = x_0``): attention must fetch the
      previous token and the MLP must add the two.
    """
    require_choice("rule", rule, RULES)
    for name, value in (("vocab", vocab), ("seq", seq), ("n_train", n_train)):
        require_positive_int(name, value)
    g = torch.Generator().manual_seed(seed)
    n_test = max(1, n_train // 8)
    x = torch.randint(vocab, (n_train + n_test, seq), generator=g)  # (n, seq)
    y = x.clone()
    if rule == "add":
        y[:, 1:] = (x[:, 1:] + x[:, :-1]) % vocab
    else:
        y[:, 1:] = x[:, :-1]
    return Task(rule, x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_classes=vocab)


def _norm_or_identity(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float, on: torch.Tensor
) -> torch.Tensor:
    """LayerNorm per variant of ``x`` ``(variant, ..., d)``, or the identity where ``on`` is 0."""
    return torch.lerp(x, layer_norm_stacked(x, weight, bias, eps), on.view((-1,) + (1,) * (x.dim() - 1)))


class DecoderBlock(nn.Module):
    """One causal decoder block whose residuals, norms and sublayers are switched by buffers.

    ``skip`` holds the (attention, MLP) shortcut factors and ``branch`` the sublayers' own
    factors, each 1 or 0; ``normed`` is 1 for a LayerNorm, 0 for the identity.
    post: ``x = norm1(a x + attn(x)); x = norm2(m x + mlp(x))``;
    pre: ``x = a x + attn(norm1(x)); x = m x + mlp(norm2(x))``.
    """

    def __init__(self, d_model: int, n_heads: int, norm: str = "post") -> None:
        super().__init__()
        self.norm = require_choice("norm", norm, NORMED_PLACEMENTS)
        self.attn = SelfAttention(d_model, n_heads)
        self.mlp = MLP(d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.register_buffer("skip", torch.ones(2))
        self.register_buffer("branch", torch.ones(2))
        self.register_buffer("normed", torch.ones(()))

    def _norm(self, norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
        return torch.lerp(x, norm(x), self.normed)  # normed 1: norm(x); 0: x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, m = self.skip[0], self.skip[1]

        def attn(h: torch.Tensor) -> torch.Tensor:
            return self.branch[0] * self.attn(h, causal=True)

        def mlp(h: torch.Tensor) -> torch.Tensor:
            return self.branch[1] * self.mlp(h)

        x = add_and_norm(x, attn, lambda h: self._norm(self.norm1, h), self.norm, residual=a)
        return add_and_norm(x, mlp, lambda h: self._norm(self.norm2, h), self.norm, residual=m)

    def forward_stacked(self, p: dict[str, torch.Tensor], prefix: str, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` for ``variant`` stacked copies; ``x`` ``(variant, batch, seq, d_model)``."""
        skip, branch = p[prefix + "skip"], p[prefix + "branch"]  # (variant, 2) each
        a, m = skip[:, 0].view(-1, 1, 1, 1), skip[:, 1].view(-1, 1, 1, 1)

        def norm(i: int) -> Callable[[torch.Tensor], torch.Tensor]:
            weight, bias = p[f"{prefix}norm{i}.weight"], p[f"{prefix}norm{i}.bias"]
            return lambda h: _norm_or_identity(h, weight, bias, self.norm1.eps, p[prefix + "normed"])

        def attn(h: torch.Tensor) -> torch.Tensor:
            out = attention_stacked(h, p, prefix + "attn.", self.attn.n_heads, causal=True)
            return branch[:, 0].view(-1, 1, 1, 1) * out

        def mlp(h: torch.Tensor) -> torch.Tensor:
            return branch[:, 1].view(-1, 1, 1, 1) * mlp_stacked(h, p, prefix + "mlp.", self.mlp.activation)

        x = add_and_norm(x, attn, norm(1), self.norm, residual=a)
        return add_and_norm(x, mlp, norm(2), self.norm, residual=m)  # (variant, batch, seq, d_model)

    def extra_repr(self) -> str:
        return f"norm={self.norm!r}, causal=True"


class CausalDecoder(nn.Module):
    """Embeddings → ``depth`` :class:`DecoderBlock` s → (pre-norm: final LayerNorm) → logits."""

    def __init__(
        self, vocab: int, seq: int, depth: int, d_model: int, n_heads: int, norm: str = "post"
    ) -> None:
        super().__init__()
        self.norm = require_choice("norm", norm, NORMED_PLACEMENTS)
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(seq, d_model) * 0.02)
        self.blocks = nn.ModuleList(DecoderBlock(d_model, n_heads, norm) for _ in range(depth))
        self.final_norm = nn.LayerNorm(d_model) if norm == "pre" else nn.Identity()
        self.register_buffer("normed", torch.ones(()))
        self.head = nn.Linear(d_model, vocab)

    def switch(
        self, attn_residual: bool, mlp_residual: bool, norms: bool, attention: bool = True, mlp: bool = True
    ) -> CausalDecoder:
        """Set the buffers: which shortcuts, whether the LayerNorms are on, which sublayers.
        Returns ``self``."""
        with torch.no_grad():
            for block in self.blocks:
                block.skip.copy_(torch.tensor([float(attn_residual), float(mlp_residual)]))
                block.branch.copy_(torch.tensor([float(attention), float(mlp)]))
                block.normed.fill_(float(norms))
            self.normed.fill_(float(norms))
        return self

    def hidden_states(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The embedded input and the stream after every block, each ``(batch, seq, d_model)``."""
        states = [self.embed(tokens) + self.pos]
        for block in self.blocks:
            states.append(block(states[-1]))
        return states

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos  # (batch, seq, d_model)
        for block in self.blocks:
            x = block(x)
        if self.norm == "pre":
            x = torch.lerp(x, self.final_norm(x), self.normed)
        return self.head(x)  # (batch, seq, vocab)

    def forward_stacked(self, p: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` of ``variant`` copies at once (explicit batched matmuls, no ``vmap``)."""
        x = p["embed.weight"][:, tokens] + p["pos"].unsqueeze(1)  # (variant, batch, seq, d_model)
        for i, block in enumerate(self.blocks):
            x = block.forward_stacked(p, f"blocks.{i}.", x)
        if self.norm == "pre":
            weight, bias = p["final_norm.weight"], p["final_norm.bias"]
            x = _norm_or_identity(x, weight, bias, self.final_norm.eps, p["normed"])
        return linear_stacked(x, p["head.weight"], p["head.bias"])  # (variant, batch, seq, vocab)


@dataclass(frozen=True)
class DecoderConfig:
    """The decoder ablation: what is trained, how long, and what counts as "trained"."""

    rule: str = "shift"  # "shift": y_t = x_{t-1}; "add": y_t = (x_{t-1} + x_t) mod vocab
    depth: int = 4  # decoder blocks
    d_model: int = 16
    n_heads: int = 2
    seq: int = 8
    vocab: int = 10
    norm: str = "post"  # where the LayerNorm sits when it is on: "post" (Add & Norm) or "pre"
    variants: tuple[str, ...] = ABLATION
    steps: int = 300
    lr: float = 3e-3  # no warm-up
    optimizer: str = "adam"  # or "sgd" (plain): its steps follow the gradient's scale, Adam's do not
    batch_size: int = 32
    target_loss: float = 0.1  # nats; chance is ln(vocab)
    seeds: tuple[int, ...] = (0, 1, 2)  # initial weights; the data and its order are fixed
    n_train: int = 4096
    log_every: int | None = None  # per-block gradient norms every this many steps (None: first, last)

    def __post_init__(self) -> None:
        require_choice("rule", self.rule, RULES)
        for name in ("depth", "d_model", "n_heads", "seq", "vocab", "steps", "batch_size", "n_train"):
            require_positive_int(name, getattr(self, name))
        require_choice("norm", self.norm, NORMED_PLACEMENTS)
        require_positive_float("lr", self.lr)
        require_choice("optimizer", self.optimizer, ("adam", "sgd"))
        require_positive_float("target_loss", self.target_loss)
        require_int_tuple("seeds", self.seeds)
        if self.log_every is not None:
            require_positive_int("log_every", self.log_every)
        if not isinstance(self.variants, tuple) or not self.variants:
            raise TypeError(f"variants must be a non-empty tuple of names, got {self.variants!r}")
        for v in self.variants:
            require_choice("variant", v, tuple(VARIANTS))
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.batch_size > self.n_train:
            raise ValueError(f"batch_size ({self.batch_size}) must not exceed n_train ({self.n_train})")


@dataclass
class DecoderResult:
    """Per variant, one entry per seed (in ``config.seeds`` order).

    ``steps_to_target`` is the first step whose minibatch loss fell below
    ``config.target_loss``, or ``None`` if it never did within ``config.steps``.
    ``stream_growth`` is the RMS of the stream leaving the last block of the trained model
    divided by the RMS of its embedded input, on the held-out sequences.
    ``grad_norms[variant][seed]`` holds, per logged step (``config.log_every``), the gradient
    norm of each block's parameters; ``diverged_at`` the step whose loss or gradient turned
    NaN/Inf (training stops there), else ``None``.
    """

    config: DecoderConfig
    loss_curves: dict[str, list[list[float]]]
    steps_to_target: dict[str, list[int | None]]
    final_loss: dict[str, list[float]]
    parameters: dict[str, int]
    stream_growth: dict[str, list[float]]
    grad_norms: dict[str, list[list[list[float]]]] = field(default_factory=dict)
    diverged_at: dict[str, list[int | None]] = field(default_factory=dict)

    @property
    def chance(self) -> float:
        """The loss of a uniform guess, ``ln(vocab)``."""
        return math.log(self.config.vocab)

    def reached(self, variant: str) -> int:
        """How many seeds reached the target loss."""
        return sum(s is not None for s in self.steps_to_target[variant])

    def steps_range(self, variant: str) -> str:
        """The steps to target over seeds as text: ``"150–170"``, ``"> 300"`` if none reached it,
        ``"150–170 (2 of 3 seeds; others > 300)"`` if some did."""
        reached = [s for s in self.steps_to_target[variant] if s is not None]
        never = f"> {self.config.steps}"
        if not reached:
            return never
        text = f"{min(reached)}–{max(reached)}" if min(reached) != max(reached) else f"{reached[0]}"
        n = len(self.steps_to_target[variant])
        return text if len(reached) == n else f"{text} ({len(reached)} of {n} seeds; others {never})"

    def final_range(self, variant: str) -> tuple[float, float]:
        """(lowest, highest) final loss over seeds."""
        values = self.final_loss[variant]
        return min(values), max(values)

    def final_text(self, variant: str) -> str:
        """The final loss over seeds as text, two decimals (two significant figures below 0.1):
        ``"0.035–0.056"``, ``"2.03"`` when every seed agrees."""
        lo, hi = (f"{v:.2f}" if v >= 0.1 else f"{v:.2g}" for v in self.final_range(variant))
        return lo if lo == hi else f"{lo}–{hi}"


def first_below(loss: list[float], target: float) -> int | None:
    """The first step whose loss is below ``target``, or ``None``."""
    return next((step for step, value in enumerate(loss) if value < target), None)


def _growth(model: nn.Module, tokens: torch.Tensor) -> float:
    rms = stream_norms(model, tokens)
    return rms[-1] / rms[0]


@single_threaded
def run_decoder_ablation(config: DecoderConfig = DecoderConfig(), progress_bar: bool = True) -> DecoderResult:
    """Train every variant from every seed's initial weights on the same data; return the curves,
    the steps each needed to reach ``config.target_loss`` and the final losses."""
    if not isinstance(config, DecoderConfig):
        raise TypeError(f"config must be a DecoderConfig, got {type(config).__name__}")
    task = make_causal_task(config.rule, config.vocab, config.seq, config.n_train)
    models, keys = [], []
    for seed in config.seeds:
        for variant in config.variants:
            seed_everything(seed)  # every variant starts from this seed's weights
            model = CausalDecoder(
                config.vocab, config.seq, config.depth, config.d_model, config.n_heads, config.norm
            )
            models.append(model.switch(*VARIANTS[variant]))
            keys.append(variant)
    train = TrainConfig(
        steps=config.steps,
        lr=config.lr,
        batch_size=config.batch_size,
        optimizer=config.optimizer,
        log_every=config.log_every or config.steps,
    )
    runs = train_many(models, task, train, progress_bar=progress_bar)

    def per_variant(value) -> dict[str, list]:
        rows = list(zip(runs, models, keys, strict=True))
        return {v: [value(r, m) for r, m, k in rows if k == v] for v in config.variants}

    curves = per_variant(lambda run, _: run.loss)
    return DecoderResult(
        config,
        loss_curves=curves,
        steps_to_target={v: [first_below(c, config.target_loss) for c in cs] for v, cs in curves.items()},
        final_loss=per_variant(lambda run, _: run.final_loss),
        parameters={v: parameter_counts(models[keys.index(v)])["total"] for v in config.variants},
        stream_growth=per_variant(lambda _, model: _growth(model, task.x_test)),
        grad_norms=per_variant(lambda run, _: run.grad_norms),
        diverged_at=per_variant(lambda run, _: run.diverged_at),
    )


def _first_step(name: str, params: list[torch.Tensor], grads: list[torch.Tensor], lr: float) -> None:
    """One step of ``torch.optim``'s own SGD or Adam update (the functions ``torch.optim.SGD`` and
    ``torch.optim.Adam`` call), in place on ``params``; fresh state, defaults otherwise."""
    if name == "sgd":
        sgd(
            params,
            grads,
            [None] * len(params),
            weight_decay=0.0,
            momentum=0.0,
            lr=lr,
            dampening=0.0,
            nesterov=False,
            maximize=False,
            foreach=False,
            fused=None,
            has_sparse_grad=False,
            grad_scale=None,
            found_inf=None,
        )
        return
    zeros = [torch.zeros_like(p) for p in params]
    adam(
        params,
        grads,
        zeros,
        [torch.zeros_like(p) for p in params],
        [],
        [torch.tensor(0.0) for _ in params],
        foreach=False,
        capturable=False,
        differentiable=False,
        fused=None,
        grad_scale=None,
        found_inf=None,
        has_complex=False,
        amsgrad=False,
        beta1=0.9,
        beta2=0.999,
        lr=lr,
        weight_decay=0.0,
        eps=1e-8,
        maximize=False,
    )


@single_threaded
def first_step_sizes(
    config: DecoderConfig = DecoderConfig(), scales: tuple[float, ...] = (1.0, 100.0), seed: int = 0
) -> dict[str, dict[float, float]]:
    """How far the first optimiser step moves the weights when the loss is multiplied by each of
    ``scales``: ``{"sgd": {scale: rms change}, "adam": {...}}``, with PyTorch's own SGD and Adam
    updates at ``config.lr`` on the residual+norm decoder of ``seed``, one minibatch.

    SGD's step is ``lr * g``, so it scales with the gradient; Adam's first step is
    ``lr * m / (sqrt(v) + eps)`` with ``m = (1 - b1) g``, ``v = (1 - b2) g^2`` after bias
    correction: ``lr * sign(g)`` whatever ``g``'s scale (Kingma and Ba 2015, section 2.1).
    """
    task = make_causal_task(config.rule, config.vocab, config.seq, config.n_train)
    x, y = task.x_train[: config.batch_size], task.y_train[: config.batch_size]
    seed_everything(seed)
    model = CausalDecoder(config.vocab, config.seq, config.depth, config.d_model, config.n_heads, config.norm)
    params = list(model.parameters())
    logits = model(x)  # (batch, seq, vocab)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
    grads = torch.autograd.grad(loss, params)
    sizes: dict[str, dict[float, float]] = {"sgd": {}, "adam": {}}
    for name in sizes:
        for scale in scales:
            moved = [p.detach().clone() for p in params]
            _first_step(name, moved, [scale * g for g in grads], config.lr)
            change = torch.cat([(a - b.detach()).flatten() for a, b in zip(moved, params, strict=True)])
            sizes[name][scale] = change.pow(2).mean().sqrt().item()
    return sizes
