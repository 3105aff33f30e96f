"""Probes: measurements of a model that leave no trace on it.

Each probe is a pure function of a model and some inputs: it uses ``torch.autograd.grad``
(never ``.backward()``, so ``.grad`` is untouched), works on a copy when it must change the
model (the lesion), and returns plain floats. A model's blocks are found by
:func:`coursekit.measures.find_blocks`; its stream is what its ``hidden_states`` method returns.
Loss, accuracy and the gradient norm by block come from :mod:`coursekit.measures`, the one
implementation the trainers use too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from .measures import accuracy, cross_entropy, find_blocks, grad_norms_by_block, lag1_autocorrelation
from .validate import require_positive_int


def grad_norms_by_layer(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, param: str | None = None
) -> list[float]:
    """L2 norm of the cross-entropy gradient for each block's parameters, first block first.

    ``param`` restricts each block to one parameter, e.g. ``"mlp.fc2.weight"`` (the
    second MLP weight that Xiong et al. 2020 plot by layer).
    """
    name, blocks = find_blocks(model)
    prefixes = [f"{name}.{i}." for i in range(len(blocks))]
    named = {}
    for prefix, block in zip(prefixes, blocks, strict=True):
        own = dict(block.named_parameters())
        if param is not None and param not in own:
            raise ValueError(f"param {param!r} is not in {name}'s blocks; they have {sorted(own)}")
        named |= {prefix + n: p for n, p in own.items() if param is None or n == param}
    grads = torch.autograd.grad(cross_entropy(model(x), y), list(named.values()), allow_unused=True)
    grads = {
        n: torch.zeros_like(p) if g is None else g for (n, p), g in zip(named.items(), grads, strict=True)
    }
    return grad_norms_by_block(grads, prefixes).tolist()


def hidden_states(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The stream entering the first block and leaving every block (``depth + 1`` tensors)."""
    if not hasattr(model, "hidden_states"):
        raise TypeError(f"{type(model).__name__} has no hidden_states method to read its stream from")
    with torch.no_grad():
        return model.hidden_states(x)


def _rms(t: torch.Tensor) -> float:
    return t.pow(2).mean().sqrt().item()


def stream_norms(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Root-mean-square of the stream ``x_l`` for ``l = 0 .. depth`` (residual-stream growth)."""
    return [_rms(h) for h in hidden_states(model, x)]


def update_norms(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Root-mean-square of what each block changes, ``x_{l+1} - x_l`` (for a residual block,
    its branch's activation)."""
    states = hidden_states(model, x)
    return [_rms(after - before) for before, after in zip(states[:-1], states[1:], strict=True)]


def rank_collapse(model: nn.Module, x: torch.Tensor) -> list[float]:
    r"""Relative distance from rank one, :math:`\|X - 1\bar x^\top\|_F / \|X\|_F`, per layer.

    ``X`` is one example's ``(seq, d_model)`` stream and :math:`\bar x` its mean over tokens;
    the ratio is averaged over the batch. 0 means every token holds the same vector
    (Dong, Cordonnier and Loukas 2021). Input ``(batch, seq, d_model)``.
    """
    if x.dim() != 3:
        raise ValueError(f"rank_collapse needs (batch, seq, d_model) input, got shape {tuple(x.shape)}")
    ratios = []
    for h in hidden_states(model, x):
        residual = h - h.mean(dim=1, keepdim=True)  # (batch, seq, d_model)
        ratio = residual.flatten(1).norm(dim=1) / h.flatten(1).norm(dim=1).clamp_min(1e-30)
        ratios.append(ratio.mean().item())
    return ratios


def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of examples (or positions) whose arg-max logit is not the target."""
    with torch.no_grad():
        return 1.0 - accuracy(model(x), y)


def lesion(model: nn.Module, x: torch.Tensor, y: torch.Tensor, k: int) -> float:
    """Error rate on ``(x, y)`` of a copy of ``model`` with block ``k`` deleted (Veit et al. 2016).

    The block is replaced by the identity, so a residual stream flows on past it; in a plain
    net the next block receives what the previous one made for block ``k``.
    """
    _, blocks = find_blocks(model)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(blocks):
        raise ValueError(f"k must be a block index in 0..{len(blocks) - 1}, got {k!r}")
    damaged = copy.deepcopy(model)
    find_blocks(damaged)[1][k] = nn.Identity()
    return error_rate(damaged, x, y)


def gradient_autocorrelation(f: Callable[[torch.Tensor], torch.Tensor], grid: torch.Tensor) -> float:
    r"""Lag-1 autocorrelation of :math:`\partial f/\partial x` along a 1-D grid (Balduzzi et al. 2017).

    ``f`` maps ``(n, 1)`` inputs to ``(n, 1)`` or ``(n,)`` outputs, one per input (no
    cross-example coupling such as batch statistics). Near 1: smooth, trainable gradients;
    near 0: "shattered", like white noise. A constant gradient counts as 1.
    """
    if grid.dim() != 2 or grid.shape[1] != 1:
        raise ValueError(f"grid must have shape (n_points, 1), got {tuple(grid.shape)}")
    require_positive_int("n_points - 2", grid.shape[0] - 2)
    x = grid.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x)  # (n_points, 1)
    return lag1_autocorrelation(g.squeeze(1))


def parameter_counts(module: nn.Module) -> dict[str, int]:
    """Number of parameters in each top-level part of ``module`` (e.g. a block's ``attn``,
    ``mlp``, ``norm1``, ``norm2``), its own direct parameters under ``"(own)"``, and ``"total"``."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in module.named_children()}
    own = sum(p.numel() for p in module.parameters(recurse=False))
    if own:
        counts["(own)"] = own
    counts["total"] = sum(p.numel() for p in module.parameters())
    return counts
