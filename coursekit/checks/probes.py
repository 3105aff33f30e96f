"""Check for the learner's gradient-norm probe: ``grad_norms(model, x, y) -> list[float]``.

The reference is ``coursekit.probes.grad_norms_by_layer``: for each block of ``model.blocks``,
first block first, the L2 norm of the cross-entropy loss's gradient over all the block's
parameters, computed with ``torch.autograd.grad`` so that ``.grad`` is left untouched.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..nn import build_stack
from ..probes import grad_norms_by_layer
from .core import CheckFailed, check, require_function

D, DEPTH, FEATURES, CLASSES, BATCH = 8, 4, 5, 3, 16

HINTS = {
    "not_list": "return one float per block, as a list (e.g. [n.item() for n in norms])",
    "length": "one number per block: len(model.blocks), not per parameter or per layer of the whole model",
    "left_grad": "a probe leaves no trace: use torch.autograd.grad(loss, params), not loss.backward(), "
    "which fills .grad",
    "squared": "take the square root: the L2 norm is sqrt(sum of squares)",
    "reversed": "list the blocks first to last, in the order of model.blocks",
    "weights": "that is the norm of the weights; take the norm of the loss's gradient with respect to them",
    "per_parameter_sum": "one norm per block over all its parameters together: sqrt of the sum of every "
    "squared gradient entry, not the sum of per-parameter norms",
}


class ProbedNet(nn.Module):
    """A small classifier with ``blocks``: embed → residual MLP blocks → head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(FEATURES, D)
        self.blocks = build_stack(DEPTH, D).blocks
        self.head = nn.Linear(D, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)  # (batch, d_model)
        for block in self.blocks:
            h = block(h)
        return self.head(h)  # (batch, classes)


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(u, v, rel_tol=1e-4, abs_tol=1e-7) for u, v in zip(a, b, strict=True)
    )


def _diagnose(
    got: list[float], model: nn.Module, x: torch.Tensor, y: torch.Tensor, expected: list[float]
) -> str:
    if _same(got, [v * v for v in expected]):
        return HINTS["squared"]
    if _same(got, expected[::-1]):
        return HINTS["reversed"]
    if _same(
        got, [math.sqrt(sum(p.detach().pow(2).sum().item() for p in b.parameters())) for b in model.blocks]
    ):
        return HINTS["weights"]
    loss = nn.functional.cross_entropy(model(x), y)
    per_block = []
    for block in model.blocks:
        grads = torch.autograd.grad(loss, list(block.parameters()), retain_graph=True)
        per_block.append(sum(g.norm().item() for g in grads))
    if _same(got, per_block):
        return HINTS["per_parameter_sum"]
    return "follow the recipe: loss → torch.autograd.grad over each block's parameters → sqrt(sum of squares)"


@check("grad_norm_probe")
def check_grad_norm_probe(grad_norms: object) -> None:
    """Check ``grad_norms(model, x, y) -> list[float]`` against ``coursekit.probes.grad_norms_by_layer``."""
    require_function(grad_norms, "grad_norms", "check_grad_norm_probe")
    model = ProbedNet()
    x, y = torch.randn(BATCH, FEATURES), torch.randint(0, CLASSES, (BATCH,))
    out = grad_norms(model, x, y)
    if any(p.grad is not None for p in model.parameters()):
        raise CheckFailed("the probe left gradients in .grad", HINTS["left_grad"])
    if isinstance(out, torch.Tensor):
        out = out.tolist()
    if not isinstance(out, (list, tuple)) or not all(isinstance(v, (int, float)) for v in out):
        raise CheckFailed(
            f"grad_norms returned {type(out).__name__}, not a list of floats", HINTS["not_list"]
        )
    if len(out) != DEPTH:
        raise CheckFailed(f"got {len(out)} numbers for a model with {DEPTH} blocks", HINTS["length"])
    expected = grad_norms_by_layer(model, x, y)
    if not _same(list(out), expected):
        first = next(k for k, (u, v) in enumerate(zip(out, expected, strict=True)) if not _same([u], [v]))
        raise CheckFailed(
            f"block {first}: got {out[first]:.6g}, expected {expected[first]:.6g}",
            _diagnose(list(out), model, x, y, expected),
        )
