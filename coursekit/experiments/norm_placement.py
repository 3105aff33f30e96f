"""Pre-norm versus post-norm transformers (Xiong et al. 2020; Liu et al. 2020).

- :func:`run_gradient_profile`: the gradient of each layer's second MLP weight at init.
  Post-norm: grows toward the output; pre-norm: the last layer's shrinks like 1/√L.
- :func:`run_warmup`: post-norm at depth and a high learning rate fails without warm-up
  and trains with it; pre-norm trains without.
- :func:`run_prenorm_stream`: the pre-norm residual stream's norm grows with depth, the
  post-norm one stays put (Xiong et al.'s lemma: ‖x_l‖² grows linearly in l).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..data import make_sort
from ..probes import grad_norms_by_layer, stream_norms
from ..seeding import seed_everything, single_threaded
from ..stacks import StackConfig
from ..train import TrainConfig, train_many, train_model
from ..validate import require_int_tuple, require_positive_float, require_positive_int
from .models import TokenTransformer

PLACEMENTS = ("post", "pre")


def _sort_model(
    depth: int, d_model: int, norm: str, length: int, seed: int, embed_std: float = 1.0
) -> TokenTransformer:
    seed_everything(seed)
    config = StackConfig(depth, d_model, block="transformer", norm=norm, n_heads=4)
    return TokenTransformer(config, 10, length, embed_std=embed_std)


@dataclass(frozen=True)
class GradientProfileConfig:
    depths: tuple[int, ...] = (6, 12, 24)
    d_model: int = 64
    length: int = 16  # digits per sequence to sort
    batch_size: int = 64
    seeds: tuple[int, ...] = (0, 1, 2)  # one init's profile is noisy; the mean over seeds is not
    embed_std: float = 0.02  # GPT-2's: the blocks set the stream's scale, as in Xiong et al.'s analysis

    def __post_init__(self) -> None:
        require_int_tuple("depths", self.depths, positive=True)
        require_int_tuple("seeds", self.seeds)
        for name in ("d_model", "length", "batch_size"):
            require_positive_int(name, getattr(self, name))


@single_threaded
def run_gradient_profile(
    config: GradientProfileConfig = GradientProfileConfig(),
) -> dict[str, dict[int, list[float]]]:
    """``{placement: {depth: [‖∂loss/∂W2‖ for each layer, first layer first]}}`` at init,
    averaged over the seeds (each seed: its own init and batch)."""
    out: dict[str, dict[int, list[float]]] = {}
    for norm in PLACEMENTS:
        out[norm] = {}
        for depth in config.depths:
            profiles = []
            for seed in config.seeds:
                task = make_sort(n_train=config.batch_size, n_test=1, length=config.length, seed=seed)
                model = _sort_model(depth, config.d_model, norm, config.length, seed, config.embed_std)
                profiles.append(
                    grad_norms_by_layer(model, task.x_train, task.y_train, param="mlp.fc2.weight")
                )
            out[norm][depth] = [sum(layer) / len(layer) for layer in zip(*profiles, strict=True)]
    return out


@dataclass(frozen=True)
class WarmupConfig:
    """SCIENCE.md's miniature used 12 layers, d=64, 16 digits, lr 5e-3, 300 steps (about 50 s
    on 2 cores); 8 layers, d=32, 8 digits at lr 1e-2 show the same split in under 10 s."""

    depth: int = 8
    d_model: int = 32
    length: int = 8
    lr: float = 1e-2  # Adam
    steps: int = 150
    warmup_steps: int = 100
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("depth", "d_model", "length", "steps", "batch_size"):
            require_positive_int(name, getattr(self, name))
        require_positive_float("lr", self.lr)
        if not 0 < self.warmup_steps <= self.steps:
            raise ValueError(f"warmup_steps must be in 1..steps ({self.steps}), got {self.warmup_steps}")


@dataclass
class WarmupResult:
    """Loss curves and final losses for ``"post"``, ``"post+warmup"`` and ``"pre"``.
    Chance is ln(10) ≈ 2.30; ``diverged_at`` is None for runs that never hit NaN/Inf."""

    config: WarmupConfig
    loss_curves: dict[str, list[float]]
    final_loss: dict[str, float]
    diverged_at: dict[str, int | None]


@single_threaded
def run_warmup(config: WarmupConfig = WarmupConfig(), progress: bool = True) -> WarmupResult:
    """Train post-norm without and with warm-up (one batched run) and pre-norm without."""
    task = make_sort(length=config.length, seed=config.seed)
    plain = TrainConfig(
        steps=config.steps,
        lr=config.lr,
        batch_size=config.batch_size,
        optimizer="adam",
        log_every=max(1, config.steps // 10),
        seed=config.seed,
    )
    warm = dataclasses.replace(plain, warmup_steps=config.warmup_steps)
    post = [_sort_model(config.depth, config.d_model, "post", config.length, config.seed) for _ in range(2)]
    runs = dict(
        zip(("post", "post+warmup"), train_many(post, task, [plain, warm], progress=progress), strict=True)
    )
    pre = _sort_model(config.depth, config.d_model, "pre", config.length, config.seed)
    runs["pre"] = train_model(pre, task, plain, progress=progress)
    return WarmupResult(
        config,
        loss_curves={k: r.loss for k, r in runs.items()},
        final_loss={k: r.final_loss for k, r in runs.items()},
        diverged_at={k: r.diverged_at for k, r in runs.items()},
    )


@single_threaded
def run_prenorm_stream(
    depth: int = 24, d_model: int = 64, length: int = 16, seed: int = 0, embed_std: float = 0.02
) -> dict[str, list[float]]:
    """RMS of the residual stream after each block at init, ``{"pre": [...], "post": [...]}``
    (``depth + 1`` numbers each, the embedded input first)."""
    require_positive_int("depth", depth)
    task = make_sort(n_train=64, n_test=1, length=length, seed=seed)
    return {
        norm: stream_norms(_sort_model(depth, d_model, norm, length, seed, embed_std), task.x_train)
        for norm in PLACEMENTS
    }
