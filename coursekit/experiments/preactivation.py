"""Norm and activation order in the residual block (He et al. 2016, *Identity Mappings*).

Three of the paper's orderings of a two-layer block, on the digits, the identity shortcut kept:

    original (2015):       relu(x + BN(W2 relu(BN(W1 x))))
    BN after addition:     relu(BN(x + W2 relu(BN(W1 x))))
    full pre-activation:   x + W2 relu(BN(W1 relu(BN(x))))

ResNet-110 on CIFAR-10: 6.61 %, 8.17 %, 6.37 % test error. In the original block a ReLU sits on
the shortcut path; after the addition a BN does too; only full pre-activation leaves the path
from any block to any later one a pure sum. As in the paper, the pre-activation net ends with
its own BN and ReLU before the head (its stream is never normalised otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from ..data import DIGITS_CLASSES, load_digits
from ..engine import map_side_by_side, train_side_by_side
from ..engine.layers import batch_norm_stacked, linear_stacked
from ..probes import error_rate
from ..seeding import seed_everything, single_threaded
from ..validate import require_choice, require_int_tuple, require_positive_float, require_positive_int
from .models import batch_norm_stem, digits_training

ORDERS = ("original", "BN after addition", "full pre-activation")


class OrderedBlock(nn.Module):
    """Two Linear+BN layers and an identity shortcut, in one of :data:`ORDERS` (He et al. 2016, Fig. 4)."""

    def __init__(self, width: int, order: str = "original") -> None:
        super().__init__()
        self.order = require_choice("order", order, ORDERS)
        self.fc1 = nn.Linear(width, width, bias=False)
        self.fc2 = nn.Linear(width, width, bias=False)
        self.bn1 = nn.BatchNorm1d(width, track_running_stats=False)
        self.bn2 = nn.BatchNorm1d(width, track_running_stats=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, width) -> (batch, width)
        if self.order == "original":
            return F.relu(x + self.bn2(self.fc2(F.relu(self.bn1(self.fc1(x))))))
        if self.order == "BN after addition":
            return F.relu(self.bn2(x + self.fc2(F.relu(self.bn1(self.fc1(x))))))
        return x + self.fc2(F.relu(self.bn2(self.fc1(F.relu(self.bn1(x))))))

    def forward_stacked(self, p: dict[str, torch.Tensor], prefix: str, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` for ``variant`` stacked copies: weights ``(variant, ...)`` under ``prefix``
        in ``p``, ``x`` ``(variant, batch, width)``; the same three orders in batched ops."""
        w1, w2 = (p[prefix + f"fc{j}.weight"].transpose(1, 2) for j in (1, 2))  # (variant, in, out)
        bn1, bn2 = ((p[prefix + f"bn{j}.weight"], p[prefix + f"bn{j}.bias"]) for j in (1, 2))
        if self.order == "full pre-activation":
            h = torch.bmm(batch_norm_stacked(x, *bn1, relu=True), w1)  # (variant, batch, width)
            return x + torch.bmm(batch_norm_stacked(h, *bn2, relu=True), w2)
        h = torch.bmm(batch_norm_stacked(torch.bmm(x, w1), *bn1, relu=True), w2)
        if self.order == "original":
            return F.relu(x + batch_norm_stacked(h, *bn2))
        return batch_norm_stacked(x + h, *bn2, relu=True)  # BN after addition

    def extra_repr(self) -> str:
        return self.order


class OrderedNet(nn.Module):
    """Stem (Linear → BN → ReLU) → ``depth`` :class:`OrderedBlock` s → head; the full
    pre-activation net puts BN → ReLU before the head, as the paper's does."""

    def __init__(self, depth: int, order: str = "original", width: int = 64, d_in: int = 64) -> None:
        super().__init__()
        require_positive_int("depth", depth)
        self.stem = batch_norm_stem(d_in, width)
        self.blocks = nn.ModuleList(OrderedBlock(width, order) for _ in range(depth))
        self.final = nn.Identity()
        if order == "full pre-activation":
            self.final = nn.Sequential(nn.BatchNorm1d(width, track_running_stats=False), nn.ReLU())
        self.head = nn.Linear(width, DIGITS_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)  # (batch, width)
        for block in self.blocks:
            h = block(h)
        return self.head(self.final(h))  # (batch, n_classes)

    def forward_stacked(self, p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` of ``variant`` copies at once, their weights stacked in ``p`` (the engine's
        contract, :mod:`coursekit.engine.contract`): batched matmuls, faster to train than ``vmap``
        over :meth:`forward`. ``x`` ``(batch, d_in)``; returns ``(variant, batch, n_classes)``."""
        h = torch.matmul(x, p["stem.0.weight"].transpose(1, 2))  # (variant, batch, width)
        h = batch_norm_stacked(h, p["stem.1.weight"], p["stem.1.bias"], relu=True)
        for i, block in enumerate(self.blocks):
            h = block.forward_stacked(p, f"blocks.{i}.", h)
        if isinstance(self.final, nn.Sequential):  # full pre-activation: BN → ReLU before the head
            h = batch_norm_stacked(h, p["final.0.weight"], p["final.0.bias"], relu=True)
        return linear_stacked(h, p["head.weight"], p["head.bias"])  # (variant, batch, n_classes)


@dataclass(frozen=True)
class OrderConfig:
    """16 two-layer blocks (34 weighted layers) on the digits, plain SGD as in lesson 7's other nets."""

    depth: int = 16
    width: int = 64
    lr: float = 0.05
    epochs: int = 10
    batch_size: int = 128
    seeds: tuple[int, ...] = (0, 1, 2)  # initialisations; the minibatch order is shared
    orders: tuple[str, ...] = ORDERS

    def __post_init__(self) -> None:
        for name in ("depth", "width", "epochs", "batch_size"):
            require_positive_int(name, getattr(self, name))
        require_positive_float("lr", self.lr)
        require_int_tuple("seeds", self.seeds)
        if not isinstance(self.orders, tuple) or not self.orders:
            raise TypeError(f"orders must be a non-empty tuple of {ORDERS}, got {self.orders!r}")
        for order in self.orders:
            require_choice("orders", order, ORDERS)


@dataclass
class OrderResult:
    """Per order, one entry per seed: the loss curve, the final training loss (mean over the last
    tenth), and the training and held-out error (%)."""

    config: OrderConfig
    loss_curves: dict[str, list[list[float]]] = field(default_factory=dict)
    final_loss: dict[str, list[float]] = field(default_factory=dict)
    train_error: dict[str, list[float]] = field(default_factory=dict)
    test_error: dict[str, list[float]] = field(default_factory=dict)

    def ranking(self, seed_index: int, table: str = "final_loss") -> list[str]:
        """The orders from lowest to highest ``table`` value at one seed (by position in ``seeds``)."""
        values = getattr(self, require_choice("table", table, ("final_loss", "train_error", "test_error")))
        return sorted(values, key=lambda order: values[order][seed_index])

    def lowest_at_every_seed(self, order: str, table: str = "final_loss") -> bool:
        """Whether ``order`` has the lowest ``table`` value at every seed."""
        return all(self.ranking(i, table)[0] == order for i in range(len(self.config.seeds)))


@single_threaded
def run_block_orders(config: OrderConfig = OrderConfig(), progress_bar: bool = True) -> OrderResult:
    """Train every order at every seed (one batched run per order, side by side)."""
    if not isinstance(config, OrderConfig):
        raise TypeError(f"config must be an OrderConfig, got {type(config).__name__}")
    task = load_digits()
    train = digits_training(config.epochs, config.batch_size, config.lr, task.n_train)

    def build(order: str, seed: int) -> OrderedNet:
        seed_everything(seed)  # the same seed gives every order the same initial weights
        return OrderedNet(config.depth, order, config.width)

    groups = {order: [build(order, s) for s in config.seeds] for order in config.orders}
    jobs = [(models, train) for models in groups.values()]
    trained = train_side_by_side(jobs, task, progress_bar=progress_bar)
    result = OrderResult(config)

    def errors(model: OrderedNet) -> tuple[float, float]:  # (training, held-out) error, %
        held_in, held_out = (task.x_train, task.y_train), (task.x_test, task.y_test)
        return 100 * error_rate(model, *held_in), 100 * error_rate(model, *held_out)

    all_errors = iter(map_side_by_side(errors, [m for models in groups.values() for m in models]))
    for (order, models), runs in zip(groups.items(), trained, strict=True):
        result.loss_curves[order] = [r.loss for r in runs]
        result.final_loss[order] = [r.final_loss for r in runs]
        held_in, held_out = zip(*[next(all_errors) for _ in models], strict=True)
        result.train_error[order], result.test_error[order] = list(held_in), list(held_out)
    return result
