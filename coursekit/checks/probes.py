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
from .core import CheckFailed, as_float, check, require_function

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
    "zeroed_grad": "a probe leaves no trace: the caller's .grad must be as it was; use torch.autograd.grad "
    "instead of zero_grad() and backward()",
    "mode": "the probe changed the model's train/eval mode: note model.training first and put it back "
    "(model.train(was_training)) if you switch to eval()",
    "weights_changed": "a probe only measures: it must not change the weights (no optimizer step, no "
    "in-place "
    "updates)",
    "requires_grad": "the probe changed which parameters require gradients: leave requires_grad as it was",
    "mean_not_norm": "take the L2 norm (sqrt of the sum of squares), not the mean of the gradient entries",
    "max_not_norm": "take the L2 norm over all the block's entries, not the largest entry",
    "wrong_loss": "measure the gradient of the cross-entropy loss of model(x) against y "
    "(F.cross_entropy(model(x), y)), averaged over the batch",
    "output_not_loss": "differentiate the loss (F.cross_entropy(model(x), y)), not the model's output",
    "activations": "measure the gradient with respect to each block's parameters (block.parameters()), "
    "not with respect to its output",
    "weights_only": "take every parameter of the block, biases and norm gains included: "
    "list(block.parameters())",
    "recipe": "follow the recipe: loss → torch.autograd.grad over each block's parameters → sqrt(sum of "
    "squares)",
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


def _per_block(model: nn.Module, loss: torch.Tensor, reduce) -> list[float]:  # noqa: ANN001
    out = []
    for block in model.blocks:
        grads = torch.autograd.grad(loss, list(block.parameters()), retain_graph=True)
        out.append(float(reduce(torch.cat([g.flatten() for g in grads]), grads)))
    return out


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
    ce = nn.functional.cross_entropy(model(x), y)
    known = {
        "per_parameter_sum": lambda flat, grads: sum(g.norm() for g in grads),
        "mean_not_norm": lambda flat, grads: flat.mean(),
        "max_not_norm": lambda flat, grads: flat.abs().max(),
    }
    for bug, reduce in known.items():
        if _same(got, _per_block(model, ce, reduce)):
            return HINTS[bug]
    norm = lambda flat, grads: flat.norm()  # noqa: E731
    only = []
    for block in model.blocks:
        named = [p for n, p in block.named_parameters() if n.endswith("weight") and p.dim() > 1]
        grads = torch.autograd.grad(ce, named, retain_graph=True)
        only.append(float(torch.cat([g.flatten() for g in grads]).norm()))
    if _same(got, only):
        return HINTS["weights_only"]
    outputs, h = [], model.embed(x)
    for block in model.blocks:
        h = block(h)
        outputs.append(h)
    activation = torch.autograd.grad(nn.functional.cross_entropy(model.head(h), y), outputs)
    if _same(got, [float(g.norm()) for g in activation]):
        return HINTS["activations"]
    if _same(got, _per_block(model, nn.functional.cross_entropy(model(x), y, reduction="sum"), norm)):
        return HINTS["wrong_loss"]
    if _same(got, _per_block(model, model(x).sum(), norm)):
        return HINTS["output_not_loss"]
    return HINTS["recipe"]


def _numbers(out: object) -> list[float] | None:
    """A list of floats from a list/tuple of numbers, 0-d tensors or NumPy scalars, or a 1-d tensor/array."""
    if isinstance(out, torch.Tensor) and out.dim() == 1:
        out = out.tolist()
    elif type(out).__module__ == "numpy" and getattr(out, "ndim", None) == 1:
        out = list(out)  # type: ignore[call-overload]
    if not isinstance(out, (list, tuple)):
        return None
    values = [as_float(v) for v in out]
    return None if any(v is None for v in values) else values  # type: ignore[return-value]


@check("grad_norm_probe")
def check_grad_norm_probe(grad_norms: object) -> None:
    """Check ``grad_norms(model, x, y) -> list[float]`` against ``coursekit.probes.grad_norms_by_layer``."""
    require_function(grad_norms, "grad_norms", "check_grad_norm_probe")
    model = ProbedNet()
    x, y = torch.randn(BATCH, FEATURES), torch.randint(0, CLASSES, (BATCH,))
    expected = grad_norms_by_layer(model, x, y)
    weights = [p.detach().clone() for p in model.parameters()]

    # first call: no .grad anywhere, the model in train mode
    model.train()
    out = grad_norms(model, x, y)
    if any(p.grad is not None for p in model.parameters()):
        raise CheckFailed("the probe left gradients in .grad", HINTS["left_grad"])
    _unchanged(model, weights, training=True)
    got = _numbers(out)
    if got is None:
        raise CheckFailed(
            f"grad_norms returned {type(out).__name__}, not a list of floats", HINTS["not_list"]
        )
    if len(got) != DEPTH:
        raise CheckFailed(f"got {len(got)} numbers for a model with {DEPTH} blocks", HINTS["length"])
    if not _same(got, expected):
        first = next(k for k, (u, v) in enumerate(zip(got, expected, strict=True)) if not _same([u], [v]))
        raise CheckFailed(
            f"block {first}: got {got[first]:.6g}, expected {expected[first]:.6g}",
            _diagnose(got, model, x, y, expected),
        )

    # second call: the caller has gradients of its own in .grad and the model in eval mode
    model.eval()
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    again = _numbers(grad_norms(model, x, y))
    if any(p.grad is None or not torch.equal(p.grad, torch.full_like(p, 0.5)) for p in model.parameters()):
        raise CheckFailed("the probe changed the caller's .grad", HINTS["zeroed_grad"])
    _unchanged(model, weights, training=False)
    if again is None or not _same(again, expected):
        raise CheckFailed(
            "with gradients already in .grad (or in eval mode) the probe gives other numbers",
            HINTS["zeroed_grad"],
        )


def _unchanged(model: nn.Module, weights: list[torch.Tensor], training: bool) -> None:
    if any(m.training != training for m in model.modules()):
        raise CheckFailed(
            f"the probe left the model in {'eval' if training else 'train'} mode", HINTS["mode"]
        )
    if not all(p.requires_grad for p in model.parameters()):
        raise CheckFailed("the probe turned off requires_grad on some parameters", HINTS["requires_grad"])
    if not all(torch.equal(p.detach(), w) for p, w in zip(model.parameters(), weights, strict=True)):
        raise CheckFailed("the probe changed the model's weights", HINTS["weights_changed"])
