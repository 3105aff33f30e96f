"""Shattered gradients (Balduzzi et al. 2017).

The gradient ∂f/∂x of a scalar net over a 1-D grid of inputs: in deep plain nets it
decorrelates like white noise as depth grows; with skip connections it stays correlated.
Width-200 ReLU nets with BatchNorm at init, the BatchNorm statistics those of the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..data import make_grid
from ..measures import lag1_autocorrelation
from ..seeding import seed_everything, single_threaded
from ..validate import require_int_tuple, require_positive_int
from .models import SKIP_ARMS


class ScalarNet(nn.Module):
    """R → R: Linear, ``depth`` blocks, Linear. Plain block ``relu(BN(W x))``; residual block
    ``x + W relu(BN(x))`` (pre-activation, He et al. 2016). He-initialised."""

    def __init__(self, depth: int, width: int = 200, residual: bool = False) -> None:
        super().__init__()
        self.residual = residual
        self.stem = nn.Linear(1, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.norms = nn.ModuleList(nn.BatchNorm1d(width, momentum=1.0) for _ in range(depth))
        self.head = nn.Linear(width, 1)
        for layer in (self.stem, *self.blocks):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.normal_(layer.bias, std=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (n, width)
        for linear, norm in zip(self.blocks, self.norms, strict=True):
            x = x + linear(F.relu(norm(x))) if self.residual else F.relu(norm(linear(x)))
        return self.head(x)  # (n, 1)


def calibrated(net: ScalarNet, grid: torch.Tensor) -> ScalarNet:
    """Set every BatchNorm's statistics to the grid's (one pass in train mode, momentum 1),
    then switch to eval so each output depends on its own input only."""
    net.train()
    with torch.no_grad():
        net(grid)
    return net.eval()


@single_threaded
def grid_gradients(
    depth: int, residual: bool, width: int = 200, n_points: int = 256, seed: int = 0
) -> tuple[list[float], list[float], float]:
    """``(xs, ∂f/∂x at each x, its lag-1 autocorrelation)`` over the grid for one scalar net at
    init, by autograd: the reference for :func:`prefix_gradients`' last row (same net, same seed)."""
    require_positive_int("depth", depth)
    grid = make_grid(n_points)  # (n_points, 1)
    seed_everything(seed)
    net = calibrated(ScalarNet(depth, width, residual=residual), grid)
    x = grid.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net(x).sum(), x)  # (n_points, 1)
    rho = lag1_autocorrelation(g.squeeze(1))
    return grid.squeeze(1).tolist(), g.squeeze(1).tolist(), rho


def _bn_scale(norm: nn.BatchNorm1d) -> torch.Tensor:
    """The slope of an eval-mode BatchNorm, ``γ / sqrt(running_var + eps)``: ``(width,)``."""
    return norm.weight / torch.sqrt(norm.running_var + norm.eps)


@single_threaded
@torch.no_grad()
def prefix_gradients(
    depth: int, residual: bool, width: int = 200, n_points: int = 256, seed: int = 0
) -> torch.Tensor:
    """``(depth, n_points)``: row ``d - 1`` is ``∂f_d/∂x`` over the grid, where ``f_d`` is the
    ``depth``-block net of :func:`grid_gradients` cut after its first ``d`` blocks (its own head
    on top). Every depth at once, by carrying ``∂x_l/∂x`` forward (forward-mode, one pass): one
    net per seed serves every depth. The last row is :func:`grid_gradients`'s curve."""
    require_positive_int("depth", depth)
    grid = make_grid(n_points)  # (n_points, 1)
    seed_everything(seed)
    net = calibrated(ScalarNet(depth, width, residual=residual), grid)
    h = net.stem(grid)  # (n_points, width)
    t = net.stem.weight.T.expand_as(h)  # ∂h/∂x, (n_points, width)
    curves = torch.empty(depth, n_points)
    for d, (linear, norm) in enumerate(zip(net.blocks, net.norms, strict=True)):
        if residual:  # x + W relu(BN(x))
            pre = norm(h)
            t = t + (t * _bn_scale(norm) * (pre > 0)) @ linear.weight.T
            h = h + linear(F.relu(pre))
        else:  # relu(BN(W x))
            post = norm(linear(h))
            t = (t @ linear.weight.T) * _bn_scale(norm) * (post > 0)
            h = F.relu(post)
        curves[d] = (t @ net.head.weight.T).squeeze(1)  # ∂f_d/∂x, (n_points,)
    return curves


@dataclass(frozen=True)
class ShatteredConfig:
    """Scalar nets at init: which depths, how wide, how fine a grid, which seeds. Each seed's net
    has the deepest depth and is cut after each of the others (Balduzzi et al. measure nets of
    each depth; a net cut after ``d`` blocks is one, and the depths of one seed share it)."""

    depths: tuple[int, ...] = (1, 10, 24, 50)
    width: int = 200
    n_points: int = 256  # grid points on [-2, 2]
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        require_int_tuple("depths", self.depths, positive=True)
        require_int_tuple("seeds", self.seeds)
        require_positive_int("width", self.width)
        require_positive_int("n_points", self.n_points)


@dataclass(frozen=True)
class ShatteredResult:
    """``correlation[arm][i][j]``: lag-1 autocorrelation of ∂f/∂x for ``arm`` ("plain" or
    "residual") at ``config.depths[i]`` and ``config.seeds[j]``. ``gradients[arm]``, of shape
    ``(len(config.seeds), max(config.depths), config.n_points)``, holds the curves behind them at
    every depth up to the deepest, over the inputs ``grid``."""

    config: ShatteredConfig
    correlation: dict[str, list[list[float]]]
    grid: list[float]
    gradients: dict[str, torch.Tensor]

    def mean(self, arm: str) -> list[float]:
        """The autocorrelation averaged over seeds, one number per depth."""
        return [sum(values) / len(values) for values in self.correlation[arm]]


@single_threaded
def run_shattered(config: ShatteredConfig = ShatteredConfig(), progress_bar: bool = True) -> ShatteredResult:
    """Lag-1 autocorrelation of ∂f/∂x over the grid, per arm, depth and seed: one net per arm and
    seed, of the deepest depth, cut after each depth (:func:`prefix_gradients`)."""
    if not isinstance(config, ShatteredConfig):
        raise TypeError(f"config must be a ShatteredConfig, got {type(config).__name__}")
    deepest = max(config.depths)
    correlation, gradients = {}, {}
    bar = tqdm(
        total=len(SKIP_ARMS) * len(config.seeds), desc="nets probed", disable=not progress_bar, leave=False
    )
    for arm in SKIP_ARMS:
        curves = []
        for seed in config.seeds:
            curves.append(prefix_gradients(deepest, arm == "residual", config.width, config.n_points, seed))
            bar.update()
        gradients[arm] = torch.stack(curves)  # (seeds, deepest, n_points)
        correlation[arm] = [
            [lag1_autocorrelation(curve) for curve in gradients[arm][:, depth - 1]] for depth in config.depths
        ]
    bar.close()
    grid = make_grid(config.n_points).squeeze(1).tolist()
    return ShatteredResult(config, correlation, grid, gradients)
