"""Lesson 1's measurements: what the identity shortcut does to a block, a stack and its gradients.

- :func:`block_jacobian_spectrum`: singular values of one block's Jacobian, ``∂F/∂x`` against
  ``I + ∂F/∂x`` (the "gradient highway" of the skip);
- :func:`input_gradient_by_depth`: how much gradient reaches the input of an un-normalised
  MLP stack, with and without skips, by depth;
- :func:`distance_from_identity`: how far the digits BatchNorm residual net is from the
  identity at init, with the branch's BatchNorm gain at 1 (PyTorch's default) or at 0
  (Goyal et al. 2017; Fixup);
- :func:`run_training_grad_norms`: gradient norm per block of the plain and residual BatchNorm
  nets at training steps 0, 1, 10, ...: at init the plain net's gradients *explode* toward the
  input (Yang et al. 2019) and one SGD step removes most of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..data import PROBE_EXAMPLES, load_digits, probe_batch
from ..nn import Stack, StackConfig
from ..probes import grad_norms_by_layer
from ..seeding import seed_everything, single_threaded
from ..validate import require_int_tuple, require_positive_float, require_positive_int
from .models import SKIP_ARMS, BatchNormNet


def _mlp_stack(depth: int, d_model: int, residual: bool, seed: int) -> Stack:
    """Un-normalised ReLU MLP blocks, PyTorch's default init: ``x + f(x)`` or ``f(x)``."""
    seed_everything(seed)
    config = StackConfig(depth, d_model, norm="none", residual=residual, activation="relu")
    return Stack(config).eval()


@single_threaded
def block_jacobian_spectrum(d_model: int = 64, seed: int = 0) -> dict[str, list[float]]:
    """Singular values (largest first) of one MLP block's Jacobian at a random input:
    ``plain`` is ``∂F/∂x``, ``residual`` is ``I + ∂F/∂x`` (the same weights)."""
    require_positive_int("d_model", d_model)
    x = torch.randn(d_model, generator=torch.Generator().manual_seed(seed))  # (d_model,)
    out = {}
    for arm in SKIP_ARMS:
        block = _mlp_stack(1, d_model, arm == "residual", seed)
        jac = torch.autograd.functional.jacobian(block, x)  # (d_model, d_model)
        out[arm] = torch.linalg.svdvals(jac).tolist()
    return out


@single_threaded
def input_gradient_by_depth(
    depths: tuple[int, ...] = (1, 2, 4, 8, 16, 32), d_model: int = 64, batch: int = 256, seed: int = 0
) -> dict[str, list[float]]:
    """RMS of ``∂(v·y)/∂x`` at the input of an un-normalised ReLU MLP stack, one number per
    depth, for a fixed random unit-RMS output direction ``v``: how much gradient the output
    sends back to the input, without (``plain``) and with (``residual``) identity skips."""
    require_int_tuple("depths", depths, positive=True)
    require_positive_int("d_model", d_model)
    require_positive_int("batch", batch)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, d_model, generator=gen)  # (batch, d_model)
    v = torch.randn(batch, d_model, generator=gen)  # (batch, d_model)
    out: dict[str, list[float]] = {arm: [] for arm in SKIP_ARMS}
    for arm in SKIP_ARMS:
        for depth in depths:
            stack = _mlp_stack(depth, d_model, arm == "residual", seed)
            x1 = x.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad((stack(x1) * v).sum(), x1)
            out[arm].append(grad.pow(2).mean().sqrt().item())
    return out


@single_threaded
def distance_from_identity(depth: int = 16, zero_gamma: bool = False, seed: int = 0) -> dict[str, float]:
    """How far the residual :class:`BatchNormNet`'s blocks are from the identity at init, on the
    probe digits: ``first block`` is ``rms(x_1 - x_0) / rms(x_0)`` (its branch against its input),
    ``all blocks`` is ``rms(x_L - x_0) / rms(x_0)``. With ``zero_gamma`` every block's BatchNorm
    gain starts at 0, so each branch ``relu(BN(W x))`` starts at exactly 0."""
    require_positive_int("depth", depth)
    x, _ = probe_batch(load_digits())
    seed_everything(seed)
    model = BatchNormNet(depth, shortcut="identity")
    if zero_gamma:
        for block in model.blocks:
            torch.nn.init.zeros_(block.norms[0].weight)
    with torch.no_grad():
        states = model.hidden_states(x)  # depth + 1 tensors (batch, width)
    rms = lambda t: t.pow(2).mean().sqrt().item()  # noqa: E731
    return {
        "first block": rms(states[1] - states[0]) / rms(states[0]),
        "all blocks": rms(states[-1] - states[0]) / rms(states[0]),
    }


@dataclass(frozen=True)
class TrainingGradConfig:
    """Gradient norm per block of the digits BatchNorm nets during their first SGD steps."""

    depth: int = 52  # docs/science.md's deepest miniature: first/last ≈ 1e4 at init
    width: int = 64
    steps: tuple[int, ...] = (0, 1, 10)  # measure before the update of each of these steps
    seeds: tuple[int, ...] = (0, 1, 2)
    lr: float = 0.05  # plain SGD, as in docs/science.md
    batch_size: int = 128
    probe_size: int = PROBE_EXAMPLES  # gradients are measured on the same training digits every time

    def __post_init__(self) -> None:
        require_positive_int("depth", self.depth)
        require_positive_int("width", self.width)
        require_int_tuple("steps", self.steps)
        if any(s < 0 for s in self.steps) or list(self.steps) != sorted(set(self.steps)):
            raise ValueError(
                f"steps must be distinct non-negative ints in increasing order, got {self.steps}"
            )
        require_int_tuple("seeds", self.seeds)
        require_positive_float("lr", self.lr)
        require_positive_int("batch_size", self.batch_size)
        require_positive_int("probe_size", self.probe_size)


@dataclass
class TrainingGradResult:
    """``grad_norms[arm][seed index][step index]`` is the list of block gradient norms, first
    block first, for ``arm`` in ``"plain"``, ``"residual"``."""

    config: TrainingGradConfig
    grad_norms: dict[str, list[list[list[float]]]] = field(default_factory=dict)

    def ratios(self, arm: str, step: int) -> list[float]:
        """First block's gradient norm over the last block's, one number per seed, at ``step``."""
        i = self.config.steps.index(step)
        return [runs[i][0] / runs[i][-1] for runs in self.grad_norms[arm]]


@single_threaded
def run_training_grad_norms(
    config: TrainingGradConfig = TrainingGradConfig(), progress_bar: bool = True
) -> TrainingGradResult:
    """Train the plain and the residual :class:`BatchNormNet` (same seed, same weights) with SGD
    on the digits for ``max(steps)`` steps, recording every block's gradient norm at ``steps``."""
    if not isinstance(config, TrainingGradConfig):
        raise TypeError(f"config must be a TrainingGradConfig, got {type(config).__name__}")
    task = load_digits()
    if config.batch_size > task.n_train or config.probe_size > task.n_train:
        raise ValueError(f"batch_size and probe_size must not exceed the {task.n_train} training digits")
    x_probe, y_probe = probe_batch(task, config.probe_size)
    result = TrainingGradResult(config, {arm: [] for arm in SKIP_ARMS})
    last = config.steps[-1]
    runs = len(config.seeds) * len(SKIP_ARMS)
    bar = tqdm(
        total=runs * (last + 1),
        desc=f"{config.depth} blocks",
        unit="step",
        disable=not progress_bar,
        leave=False,
    )
    for seed in config.seeds:
        for arm in SKIP_ARMS:
            seed_everything(seed)
            model = BatchNormNet(
                config.depth, config.width, shortcut="none" if arm == "plain" else "identity"
            )
            opt = torch.optim.SGD(model.parameters(), lr=config.lr)
            order = torch.Generator().manual_seed(seed)  # the same minibatches for both arms
            logged = []
            for step in range(last + 1):
                if step in config.steps:
                    logged.append(grad_norms_by_layer(model, x_probe, y_probe))
                bar.update()
                if step == last:
                    break
                idx = torch.randint(0, task.n_train, (config.batch_size,), generator=order)
                loss = F.cross_entropy(model(task.x_train[idx]), task.y_train[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            result.grad_norms[arm].append(logged)
    bar.close()
    return result
