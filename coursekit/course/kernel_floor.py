"""The kernel floor: the digits step of ``coursekit bench`` as PyTorch's kernels alone.

``coursekit bench`` times batched training of 8 digits nets against a plain loop over the same
models. The floor times a third version of the same training: every kernel the batched step
runs (the matmuls, BatchNorm forward and backward, ReLU, the shortcut, the loss, the SGD
update) with everything else taken away: no autograd engine (every gradient written by hand),
no Python around each op (the stack of blocks runs in TorchScript, as the trainer's does). Its
time is what the batched trainer could reach without new kernels, so ``loop / floor`` is the
ceiling of its speed-up; a bigger one needs kernels that fuse the BatchNorm, ReLU and shortcut
passes (C++, or ``torch.compile``), which the course does not ship (learners' installs stay
compiler-free). The trainer's target is a share of that ceiling, on any machine.

Before it is trusted, the hand-written gradient is checked against autograd's
(:func:`check_gradient`; tests/test_bench.py).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..data import Task, batches
from ..engine import map_side_by_side
from ..engine.fused import _compiled
from ..engine.step import stack_weights
from ..experiments.models import BatchNormNet
from ..training import TrainConfig

EPS = 1e-5
# each one-layer BatchNormNet block's, in the stack's order
BLOCK_WEIGHTS = ("linears.0.weight", "norms.0.weight", "norms.0.bias")


def _bn(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
    """Training-mode BatchNorm of ``h`` ``(batch, channels)``: ``(out, mean, invstd)``."""
    return torch.native_batch_norm(h, weight.reshape(-1), bias.reshape(-1), None, None, True, 0.0, EPS)


def _bn_backward(g, h, weight, mean, invstd):
    return torch.ops.aten.native_batch_norm_backward(
        g, h, weight.reshape(-1), None, None, mean, invstd, True, EPS, [True, True, True]
    )


class KernelStep:
    """One group of variants' training step of :class:`~coursekit.experiments.models.BatchNormNet`
    (additive blocks), as its kernels alone; ``p`` the stacked weights and buffers by name."""

    def __init__(self, p: dict[str, torch.Tensor], depth: int, names: list[str]) -> None:
        self.p, self.depth, self.names = p, depth, names
        self.blocks = [p[f"blocks.{i}.{name}"] for i in range(depth) for name in BLOCK_WEIGHTS]
        self.skips = [p[f"blocks.{i}.skip"] for i in range(depth)]
        self.variants, self.width, _ = p["stem.0.weight"].shape

    def gradient(self, x: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``(gradient by name, per-variant loss)`` of the sum of the variants' mean losses."""
        p, v, w = self.p, self.variants, self.width
        forward, backward = _compiled()
        active = [v] * self.depth
        batch = x.shape[0]
        stem = p["stem.0.weight"]  # (variant, width, d_in)
        h0 = torch.matmul(x, stem.reshape(v * w, -1).t())  # (batch, variant * width)
        y0, mean0, invstd0 = _bn(h0, p["stem.1.weight"], p["stem.1.bias"])
        y0.relu_()
        out, saved = forward(y0.view(batch, v, w), self.blocks, self.skips, 1, False, EPS, active)
        yn, mean_n, invstd_n = _bn(out.view(batch, v * w), p["norm.weight"], p["norm.bias"])
        hn = yn.view(batch, v, w).transpose(0, 1)  # (variant, batch, width)
        logits = torch.baddbmm(p["head.bias"].unsqueeze(1), hn, p["head.weight"].transpose(1, 2))
        # the loss's gradient through autograd: a graph of three small nodes
        leaf = logits.detach().requires_grad_(True)  # (variant, batch, n_classes)
        loss = F.cross_entropy(leaf.movedim(-1, 1), y.expand(v, batch), reduction="none").mean(1)
        (d_logits,) = torch.autograd.grad(loss.sum(), leaf)
        grads = {
            "head.weight": torch.bmm(d_logits.transpose(1, 2), hn),  # (variant, n_classes, width)
            "head.bias": d_logits.sum(1),
        }
        d_hn = torch.empty(batch, v, w)
        torch.bmm(d_logits, p["head.weight"], out=d_hn.transpose(0, 1))  # (batch, variant, width)
        d_out, grads["norm.weight"], grads["norm.bias"] = _bn_backward(
            d_hn.view(batch, v * w), out.view(batch, v * w), p["norm.weight"], mean_n, invstd_n
        )
        g, block_grads = backward(d_out.view(batch, v, w), self.blocks, saved, 1, False, EPS, active)
        for i in range(self.depth):
            for k, name in enumerate(BLOCK_WEIGHTS):
                grads[f"blocks.{i}.{name}"] = block_grads[3 * i + k]
        g = torch.ops.aten.threshold_backward(g.view(batch, v * w), y0, 0)
        d_h0, grads["stem.1.weight"], grads["stem.1.bias"] = _bn_backward(
            g, h0, p["stem.1.weight"], mean0, invstd0
        )
        grads["stem.0.weight"] = torch.mm(d_h0.t(), x).view(v, w, -1)
        return {n: t.view(p[n].shape) for n, t in grads.items()}, loss.detach()

    def train(self, task: Task, config: TrainConfig, flat: torch.Tensor) -> None:
        """``config.steps`` SGD steps on ``flat`` (the weights ``p`` are views into)."""
        grad, update = torch.empty_like(flat), torch.empty_like(flat)
        index = batches(task.n_train, config.batch_size, config.steps, config.seed)
        for step in range(config.steps):
            grads, _ = self.gradient(task.x_train[index[step]], task.y_train[index[step]])
            torch.cat([grads[n].reshape(self.variants, -1) for n in self.names], dim=1, out=grad)
            torch.mul(grad, config.lr, out=update)
            flat.sub_(update)


def kernel_groups(models: list[BatchNormNet], threads: int) -> list[tuple[KernelStep, torch.Tensor]]:
    """``models`` split into ``threads`` equal groups, each stacked as the trainer stacks it:
    ``(step, flat weights)`` per group."""
    depth = len(models[0].blocks)
    share = -(-len(models) // threads)
    groups = []
    for first in range(0, len(models), share):
        flat, params, buffers = stack_weights(models[first : first + share])
        p = {n: t.detach() for n, t in (params | buffers).items()}
        groups.append((KernelStep(p, depth, list(params)), flat))
    return groups


def train_kernels(models: list[BatchNormNet], task: Task, config: TrainConfig, threads: int) -> None:
    """Train ``models`` (in place) with SGD as their kernels alone, ``threads`` groups side by side."""
    groups = kernel_groups(models, threads)
    map_side_by_side(lambda group: group[0].train(task, config, group[1]), groups, threads=threads)


def check_gradient(models: list[BatchNormNet], task: Task, batch_size: int) -> float:
    """The largest difference between the hand-written gradient of ``models`` (stacked) and
    autograd's through the trainer's own stacked forward (the same kernels, in the same order);
    raises if it exceeds float32 rounding."""
    flat, params, buffers = stack_weights(models)
    step = KernelStep(
        {n: t.detach() for n, t in (params | buffers).items()}, len(models[0].blocks), list(params)
    )
    x, y = task.x_train[:batch_size], task.y_train[:batch_size]
    grads, loss = step.gradient(x, y)
    logits = models[0].forward_stacked(params | buffers, x)
    reference = F.cross_entropy(logits.movedim(-1, 1), y.expand(len(models), -1), reduction="none").mean(1)
    expected = torch.autograd.grad(reference.sum(), list(params.values()))
    worst = (loss - reference).abs().max().item()
    for name, want in zip(params, expected, strict=True):
        torch.testing.assert_close(grads[name], want, rtol=1e-5, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
        worst = max(worst, (grads[name] - want).abs().max().item())
    return worst
