"""The one implementation of each measure the course reports: loss, accuracy, gradient norm by
block, the lag-1 autocorrelation of a curve.

The trainers (:mod:`coursekit.training`) and the probes (:mod:`coursekit.probes`) both call
these, so a number in a training curve and the same number from a probe agree by
construction (a test checks it). A model's blocks are the first ``ModuleList`` called
``blocks`` inside it (``Stack`` and the experiments' models have one).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every example (and position): logits ``(*, n_classes)``, targets ``(*)``."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of examples (or positions) whose arg-max logit is the target."""
    return (logits.argmax(-1) == targets).float().mean().item()


def find_blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """``(name, blocks)``: the first ``ModuleList`` named ``blocks`` inside ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for name, module in model.named_modules():
        if name.split(".")[-1] == "blocks" and isinstance(module, nn.ModuleList):
            return name, module
    raise ValueError(f"{type(model).__name__} has no ModuleList called 'blocks' to probe block by block")


def block_prefixes(model: nn.Module) -> list[str]:
    """Parameter-name prefixes, one per block (``"blocks.0."``, ...), or one per top-level child
    holding parameters for a model without ``blocks``."""
    try:
        name, blocks = find_blocks(model)
    except ValueError:
        return [f"{n}." for n, child in model.named_children() if any(True for _ in child.parameters())]
    return [f"{name}.{i}." for i in range(len(blocks))]


def grad_norms_by_block(
    grads: dict[str, torch.Tensor], prefixes: list[str], variants: bool = False
) -> torch.Tensor:
    """L2 norm of the gradients under each prefix: ``(blocks,)``, or ``(variant, blocks)`` when
    ``variants`` (every gradient then carries a leading ``variant`` dimension).

    ``grads`` maps parameter names to gradients; a prefix with no gradient gets 0.
    """
    lead = 1 if variants else 0
    sums = []
    for prefix in prefixes:
        parts = [g.flatten(lead).pow(2).sum(-1) for name, g in grads.items() if name.startswith(prefix)]
        sums.append(
            torch.stack(parts).sum(0) if parts else torch.zeros(next(iter(grads.values())).shape[:lead])
        )
    return torch.stack(sums, dim=-1).sqrt()


def lag1_autocorrelation(values: torch.Tensor) -> float:
    """Lag-1 autocorrelation of a 1-D curve: 1 for a smooth curve, about 0 for white noise (within
    ±1/sqrt(n)), -1 for alternating signs. A constant curve counts as 1 (perfectly smooth)."""
    if values.dim() != 1 or values.numel() < 3:
        raise ValueError(f"values must be a 1-D curve of at least 3 points, got shape {tuple(values.shape)}")
    v = values.detach().double()
    centred = v - v.mean()
    energy = centred.pow(2).sum()
    if energy <= 1e-24 * v.pow(2).sum().clamp_min(1e-300):
        return 1.0
    return (centred[:-1] * centred[1:]).sum().div(energy).item()
