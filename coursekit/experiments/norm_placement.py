"""Pre-norm versus post-norm at initialisation (Xiong et al. 2020, "On Layer Normalization
in the Transformer Architecture").

- :func:`run_theorem1`: Theorem 1's scaling. The theorem bounds (O(·), at init) the gradient of
  the sequence-average loss for the *last* layer's second MLP weight: independent of the depth L
  under post-norm, shrinking like 1/√L under pre-norm. Measured here through a per-position proxy:
  the mean over positions of the norm of each position's own loss gradient.
- :func:`run_gradient_profile`: the gradient of every layer's second MLP weight. The paper's
  "post-norm gradients grow with the layer index" (its Figure 3(a): the norm of the expected
  gradient over many mini-batches, in an encoder–decoder) shows here only as a tendency of the
  mean over seeds, with its Xavier init and zero biases (with ``nn.Linear``'s default init the
  mean profile is flat); single seeds range from falling to a threefold rise in every setting.
  The switches here flip the activation, init and statistic (one batch's gradient, or per position).
- :func:`run_stream_norms`: ``‖x_l‖²/d`` by layer; the pre-norm stream grows linearly in l
  (the paper's lemma), the post-norm one is renormalised to 1 after every layer.

The sorting transformer is built by :func:`sort_transformer` with the paper's set-up by
default: ReLU, Xavier-uniform weights, zero biases, unit-scale token embeddings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from threading import Lock
from typing import TypeVar

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..data import make_sort
from ..engine import map_side_by_side
from ..nn import NORMED_PLACEMENTS, StackConfig
from ..probes import grad_norms_by_layer, hidden_states
from ..seeding import seed_everything, single_threaded
from ..validate import require_choice, require_int_tuple, require_positive_float, require_positive_int
from .models import TokenTransformer

# the order in which the runs are built and the results keyed: post-norm first (of NORMED_PLACEMENTS)
PLACEMENT_ORDER = ("post", "pre")
ACTIVATIONS = ("relu", "gelu")
INITS = ("xavier", "default")  # the paper's; PyTorch's nn.Linear default
STATISTICS = ("batch", "position")
SEEDS = tuple(range(8))


@dataclass(frozen=True)
class ModelSetup:
    """How the sorting transformers of this module are built. The defaults are Xiong et al.'s
    set-up; ``activation="gelu", init="default"`` is what PyTorch and GPT-2-style code give."""

    d_model: int = 64
    length: int = 16  # digits per sequence to sort
    activation: str = "relu"  # the MLP's: the paper's "relu" or "gelu"
    init: str = "xavier"  # "xavier": Xavier-uniform weights, zero biases (the paper); "default": nn.Linear's
    # Xiong et al.'s analysis assumes unit-scale inputs (every coordinate of order 1); nn.Embedding's
    # default N(0, 1) gives that too. GPT-2's 0.02 would let the blocks alone set the stream's scale.
    embed_std: float = 1.0

    def __post_init__(self) -> None:
        require_positive_int("d_model", self.d_model)
        require_positive_int("length", self.length)
        require_choice("activation", self.activation, ACTIVATIONS)
        require_choice("init", self.init, INITS)
        require_positive_float("embed_std", self.embed_std)


def sort_transformer(
    depth: int, norm: str, setup: ModelSetup = ModelSetup(), seed: int = 0
) -> TokenTransformer:
    """A :class:`TokenTransformer` for sorting digits, ``depth`` blocks with ``norm`` placement,
    initialised from ``seed`` as ``setup`` says."""
    require_choice("norm", norm, NORMED_PLACEMENTS)
    seed_everything(seed)
    config = StackConfig(
        depth, setup.d_model, block="transformer", norm=norm, n_heads=4, activation=setup.activation
    )
    model = TokenTransformer(config, 10, setup.length, embed_std=setup.embed_std)
    if setup.init == "xavier":
        for name, p in model.named_parameters():
            if name.endswith("bias") and "norm" not in name:
                nn.init.zeros_(p)
            elif p.dim() == 2 and not name.startswith(("embed", "pos")):
                nn.init.xavier_uniform_(p)
    return model


def _sort_batch(setup: ModelSetup, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    task = make_sort(n_train=batch_size, n_test=1, length=setup.length, seed=seed)
    return task.x_train, task.y_train


R = TypeVar("R")
Probe = tuple[int, str, int]  # (depth, norm, seed): one untrained network to probe
_BUILDING = Lock()  # a seeded build uses the global random stream: one build at a time


def _probe_side_by_side(
    setup: ModelSetup,
    batch_size: int,
    runs: Sequence[Probe],
    measure: Callable[[TokenTransformer, torch.Tensor, torch.Tensor], R],
    progress_bar: bool,
    desc: str,
) -> list[R]:
    """``measure(model, x, y)`` for every ``(depth, norm, seed)`` in ``runs`` (each seed: its own
    init and batch), in order. The runs are dealt out to both cores
    (:func:`~coursekit.engine.map_side_by_side`); each builds its network under a lock (a seeded
    init draws from the global random stream) and probes it while the other thread builds, and
    drops it after, so the numbers are the one-thread loop's, bit for bit, and only two networks
    are alive at once. ``progress_bar``: a tqdm bar over the runs."""
    bar = tqdm(total=len(runs), disable=not progress_bar, desc=desc, leave=False)
    counted = Lock()  # both threads advance the one bar

    def probe(run: Probe) -> R:
        depth, norm, seed = run
        with _BUILDING:
            model = sort_transformer(depth, norm, setup, seed)
        out = measure(model, *_sort_batch(setup, batch_size, seed))
        with counted:
            bar.update()
        return out

    try:
        return map_side_by_side(probe, list(runs))
    finally:
        bar.close()


def per_position_last_grad(model: TokenTransformer, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``‖∂ℓ_t/∂W₂‖`` of the last block's second MLP weight for every position's own loss ``ℓ_t``,
    ``(batch, seq)``, from one backward pass.

    After the last MLP only per-position maps follow (a LayerNorm, the head), so ``ℓ_t``
    reaches ``W₂`` through position ``t`` alone: its gradient is the outer product
    ``δ_t h_tᵀ`` of the gradient at the MLP's output and the MLP's hidden activation, and its
    norm is ``‖δ_t‖·‖h_t‖``. The ``δ_t`` of all positions come from one backward pass of the
    summed loss.
    """
    fc2 = model.stack.blocks[-1].mlp.fc2
    seen: dict[str, torch.Tensor] = {}

    def keep(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        seen["h"], seen["out"] = inputs[0], output

    handle = fc2.register_forward_hook(keep)
    try:
        logits = model(x)  # (batch, seq, vocab)
    finally:
        handle.remove()
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
    (delta,) = torch.autograd.grad(loss, seen["out"])  # (batch, seq, d_model)
    return (delta.norm(dim=-1) * seen["h"].detach().norm(dim=-1)).detach()  # (batch, seq)


@dataclass(frozen=True)
class Theorem1Config:
    """Xiong et al.'s Theorem 1 in miniature: one backward pass per depth, placement and seed."""

    depths: tuple[int, ...] = (6, 12, 24)
    seeds: tuple[int, ...] = SEEDS[:6]
    batch_size: int = 16  # sequences; every position of every one gives a per-position gradient
    setup: ModelSetup = ModelSetup()

    def __post_init__(self) -> None:
        require_int_tuple("depths", self.depths, positive=True)
        require_int_tuple("seeds", self.seeds)
        require_positive_int("batch_size", self.batch_size)
        if not isinstance(self.setup, ModelSetup):
            raise TypeError(f"setup must be a ModelSetup, got {type(self.setup).__name__}")


@dataclass
class Theorem1Result:
    """``grad[norm][i][s]``: mean over positions of ``‖∂ℓ_t/∂W₂^L‖`` at ``config.depths[i]``, seed ``s``."""

    config: Theorem1Config
    grad: dict[str, list[list[float]]] = field(default_factory=dict)

    def mean(self, norm: str) -> list[float]:
        """Mean over seeds, one number per depth."""
        return [sum(seeds) / len(seeds) for seeds in self.grad[norm]]

    def spread(self, norm: str) -> list[float]:
        """(max − min) / mean over seeds, one number per depth."""
        return [(max(s) - min(s)) / (sum(s) / len(s)) for s in self.grad[norm]]

    def shrink(self, norm: str) -> list[float]:
        """Mean at each depth over the mean at the shallowest depth (1/√L predicts √(L₀/L))."""
        means = self.mean(norm)
        return [m / means[0] for m in means]

    def inverse_sqrt(self) -> list[float]:
        """√(L₀/L) for each depth: what pre-norm's :meth:`shrink` should be."""
        return [math.sqrt(self.config.depths[0] / d) for d in self.config.depths]


@single_threaded
def run_theorem1(config: Theorem1Config = Theorem1Config(), progress_bar: bool = False) -> Theorem1Result:
    """Per-position gradient of the last layer's second MLP weight at init, by depth, on both
    cores (:func:`_probe_side_by_side`); ``progress_bar``: a bar over the networks."""
    runs = [
        (depth, norm, seed) for norm in PLACEMENT_ORDER for depth in config.depths for seed in config.seeds
    ]

    def last_grad(model: TokenTransformer, x: torch.Tensor, y: torch.Tensor) -> float:
        return per_position_last_grad(model, x, y).mean().item()

    grads = iter(
        _probe_side_by_side(config.setup, config.batch_size, runs, last_grad, progress_bar, "Theorem 1")
    )
    result = Theorem1Result(config)
    for norm in PLACEMENT_ORDER:
        result.grad[norm] = [[next(grads) for _ in config.seeds] for _ in config.depths]
    return result


@dataclass(frozen=True)
class GradientProfileConfig:
    """The per-layer gradient of Xiong et al.'s Figure 3, with its conditions as switches.

    ``statistic="batch"``: the norm of the gradient of the batch's mean loss (what the paper
    plots); ``"position"``: the mean over ``positions`` tokens of the norm of each token's own
    loss gradient (one backward pass per token, so keep ``positions`` small).
    """

    depth: int = 24
    seeds: tuple[int, ...] = SEEDS  # one init's profile is noisy; 8 seeds' mean is not
    batch_size: int = 32
    statistic: str = "batch"
    positions: int = 8  # statistic="position": tokens probed per seed
    setup: ModelSetup = ModelSetup()
    placements: tuple[str, ...] = PLACEMENT_ORDER  # probe only these (lesson 7 needs post-norm alone)

    def __post_init__(self) -> None:
        require_positive_int("depth", self.depth)
        require_int_tuple("seeds", self.seeds)
        require_positive_int("batch_size", self.batch_size)
        require_choice("statistic", self.statistic, STATISTICS)
        require_positive_int("positions", self.positions)
        if not isinstance(self.placements, tuple) or not self.placements:
            raise TypeError(
                f"placements must be a non-empty tuple of {NORMED_PLACEMENTS}, got {self.placements!r}"
            )
        for norm in self.placements:
            require_choice("placements", norm, NORMED_PLACEMENTS)
        if not isinstance(self.setup, ModelSetup):
            raise TypeError(f"setup must be a ModelSetup, got {type(self.setup).__name__}")


@dataclass
class GradientProfileResult:
    """``grad[norm][s][l]``: ``‖∂loss/∂W₂^l‖`` of layer ``l`` (first layer first) at seed ``s``."""

    config: GradientProfileConfig
    grad: dict[str, list[list[float]]] = field(default_factory=dict)

    def mean(self, norm: str) -> list[float]:
        """Mean over seeds, one number per layer."""
        return [sum(layer) / len(layer) for layer in zip(*self.grad[norm], strict=True)]

    def slope(self, norm: str) -> list[float]:
        """Per seed: mean over the last quarter of the layers / mean over the first quarter
        (> 1: the gradient grows toward the output)."""
        q = max(1, self.config.depth // 4)
        return [sum(p[-q:]) / sum(p[:q]) for p in self.grad[norm]]

    def mean_slope(self, norm: str) -> float:
        """The same ratio for the seeds' mean profile."""
        q, m = max(1, self.config.depth // 4), self.mean(norm)
        return sum(m[-q:]) / sum(m[:q])


def _position_profile(
    model: TokenTransformer, x: torch.Tensor, y: torch.Tensor, positions: int
) -> list[float]:
    """Mean over ``positions`` (example, token) pairs of ``‖∂ℓ_t/∂W₂^l‖`` for every layer ``l``."""
    weights = [block.mlp.fc2.weight for block in model.stack.blocks]
    logits = model(x)  # (batch, seq, vocab)
    losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")  # (batch, seq)
    g = torch.Generator().manual_seed(0)
    picks = torch.randperm(losses.numel(), generator=g)[:positions].tolist()
    total = torch.zeros(len(weights))
    for i, pick in enumerate(picks):
        grads = torch.autograd.grad(losses.view(-1)[pick], weights, retain_graph=i < len(picks) - 1)
        total += torch.stack([gr.norm() for gr in grads])
    return (total / len(picks)).tolist()


@single_threaded
def run_gradient_profile(
    config: GradientProfileConfig = GradientProfileConfig(), progress_bar: bool = False
) -> GradientProfileResult:
    """Gradient norm of every layer's second MLP weight at init, for each placement and seed
    (each seed: its own init and batch), on both cores (:func:`_probe_side_by_side`: the
    numbers of a one-thread loop). ``progress_bar``: a bar over the networks."""

    def profile(model: TokenTransformer, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        if config.statistic == "batch":
            return grad_norms_by_layer(model, x, y, param="mlp.fc2.weight")
        return _position_profile(model, x, y, config.positions)

    runs = [(config.depth, norm, seed) for norm in config.placements for seed in config.seeds]
    profiles = _probe_side_by_side(
        config.setup, config.batch_size, runs, profile, progress_bar, "gradient profile"
    )
    result = GradientProfileResult(config)
    for (_, norm, _), norms in zip(runs, profiles, strict=True):
        result.grad.setdefault(norm, []).append(norms)
    return result


@dataclass(frozen=True)
class StreamConfig:
    """``‖x_l‖²/d`` through an untrained stack (the paper's lemma on the pre-norm stream)."""

    depth: int = 24
    seeds: tuple[int, ...] = SEEDS[:4]
    batch_size: int = 32
    setup: ModelSetup = ModelSetup()

    def __post_init__(self) -> None:
        require_positive_int("depth", self.depth)
        require_int_tuple("seeds", self.seeds)
        require_positive_int("batch_size", self.batch_size)
        if not isinstance(self.setup, ModelSetup):
            raise TypeError(f"setup must be a ModelSetup, got {type(self.setup).__name__}")


@dataclass
class StreamResult:
    """``sq_norm[norm][s][l]``: mean over tokens of ``‖x_l‖²/d`` for ``l = 0..depth`` (the
    embedded input first) at seed ``s``."""

    config: StreamConfig
    sq_norm: dict[str, list[list[float]]] = field(default_factory=dict)

    def mean(self, norm: str) -> list[float]:
        """Mean over seeds, one number per layer (``depth + 1`` numbers)."""
        return [sum(layer) / len(layer) for layer in zip(*self.sq_norm[norm], strict=True)]

    def growth_per_layer(self, norm: str) -> list[float]:
        """Per seed: least-squares slope of ``‖x_l‖²/d`` against ``l`` over layers 1..depth."""
        slopes = []
        for values in self.sq_norm[norm]:
            ls, vs = range(1, len(values)), values[1:]
            lm, vm = sum(ls) / len(ls), sum(vs) / len(vs)
            cov = sum((l - lm) * (v - vm) for l, v in zip(ls, vs, strict=True))  # noqa: E741
            slopes.append(cov / sum((l - lm) ** 2 for l in ls))  # noqa: E741
        return slopes


@single_threaded
def run_stream_norms(config: StreamConfig = StreamConfig(), progress_bar: bool = False) -> StreamResult:
    """The residual stream's ``‖x_l‖²/d`` after every block at init, pre- and post-norm, on both
    cores (:func:`_probe_side_by_side`); ``progress_bar``: a bar over the networks."""

    def sq_norms(model: TokenTransformer, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        return [h.pow(2).mean().item() for h in hidden_states(model, x)]

    runs = [(config.depth, norm, seed) for norm in PLACEMENT_ORDER for seed in config.seeds]
    norms = iter(_probe_side_by_side(config.setup, config.batch_size, runs, sq_norms, progress_bar, "stream"))
    result = StreamResult(config)
    for norm in PLACEMENT_ORDER:
        result.sq_norm[norm] = [next(norms) for _ in config.seeds]
    return result
