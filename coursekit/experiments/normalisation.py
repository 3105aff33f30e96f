"""Lesson 2's measurements: LayerNorm against BatchNorm, and the cost of a classic LayerNorm bug.

- :func:`batch_dependence`: how much one example's normalised output changes when the *other*
  examples in its batch change (BatchNorm: a lot; LayerNorm: not at all);
- :func:`train_test_gap`: the same input in training and evaluation mode (BatchNorm switches from
  batch statistics to running averages; LayerNorm has no modes);
- :func:`layer_norm_bug_errors`: the relative error of dividing by ``std + eps`` with the unbiased
  std (a widely copied LayerNorm) against ``sqrt(biased var + eps)`` (``torch.nn.LayerNorm``),
  each mistake alone and both together;
- :func:`scale_invariance`: one reason LayerNorm helps optimisation: ``LN(c W x) = LN(W x)``, so
  the loss ignores the scale of the weights that feed it, and the gradient with respect to them
  shrinks as ``1/c`` (the relative step of SGD as ``1/c²``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn import LayerNorm
from ..seeding import single_threaded
from ..validate import require_int_tuple, require_positive_float, require_positive_int

BUGS = ("unbiased std", "eps outside the root", "both (the copied version)")


def _normalise(x: torch.Tensor, eps: float, unbiased: bool, eps_inside: bool) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=unbiased, keepdim=True)
    return (x - mean) / (torch.sqrt(var + eps) if eps_inside else torch.sqrt(var) + eps)


@single_threaded
def layer_norm_bug_errors(
    d: int = 64, scale: float = 1.0, eps: float = 1e-5, n_examples: int = 256, seed: int = 0
) -> dict[str, float]:
    """Mean relative error ``|buggy - correct| / |correct|`` (RMS over every entry, in %) of each
    bug in :data:`BUGS`, for inputs ``scale * N(0, 1)`` of ``d`` features, in float64 so only the
    formula differs. The correct output is ``torch.nn.LayerNorm``'s (gain 1, bias 0)."""
    require_positive_float("scale", scale)
    return _bug_errors(scale * _standard_inputs(d, eps, n_examples, seed), eps)


@single_threaded
def layer_norm_bug_curves(
    d: int, scales: tuple[float, ...], eps: float = 1e-5, n_examples: int = 256, seed: int = 0
) -> dict[str, list[float]]:
    """:func:`layer_norm_bug_errors` at every scale of ``scales``, ``{bug: [error at each
    scale]}``: the same numbers, the N(0, 1) inputs drawn once for all scales."""
    for scale in scales:
        require_positive_float("scale", scale)
    z = _standard_inputs(d, eps, n_examples, seed)  # (n_examples, d)
    rows = [_bug_errors(scale * z, eps) for scale in scales]
    return {name: [row[name] for row in rows] for name in BUGS}


def _standard_inputs(d: int, eps: float, n_examples: int, seed: int) -> torch.Tensor:
    """``(n_examples, d)`` float64 draws from N(0, 1), the arguments checked."""
    require_positive_int("d", d)
    if d < 2:
        raise ValueError(f"d must be at least 2 (the unbiased std divides by d - 1), got {d}")
    require_positive_float("eps", eps)
    require_positive_int("n_examples", n_examples)
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n_examples, d, generator=gen, dtype=torch.float64)


def _bug_errors(x: torch.Tensor, eps: float) -> dict[str, float]:
    """Each bug's relative error (%) on ``x`` ``(n_examples, d)``, against torch's LayerNorm."""
    correct = nn.functional.layer_norm(x, (x.shape[-1],), eps=eps)
    options = {BUGS[0]: (True, True), BUGS[1]: (False, False), BUGS[2]: (True, False)}
    errors = {}
    for name, (unbiased, inside) in options.items():
        buggy = _normalise(x, eps, unbiased, inside)
        errors[name] = 100 * ((buggy - correct).norm() / correct.norm()).item()
    return errors


def _example_zero(norm: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return norm(batch)[0]


@single_threaded
def batch_dependence(
    batch_sizes: tuple[int, ...] = (2, 8, 32, 128), d: int = 64, seeds: tuple[int, ...] = (0, 1, 2)
) -> dict[str, list[float]]:
    """For each batch size: how much example 0's normalised output changes (RMS over its
    features, the largest over ``seeds``) when the *other* examples of its batch are drawn
    afresh, against the first seed's batch. ``nn.BatchNorm1d`` in training mode against
    :class:`LayerNorm`; the normalised output has unit scale, so 1.0 is a change as big as it."""
    require_int_tuple("batch_sizes", batch_sizes, positive=True)
    require_positive_int("d", d)
    require_int_tuple("seeds", seeds)
    if any(b < 2 for b in batch_sizes) or len(seeds) < 2:
        raise ValueError("BatchNorm needs batches of at least 2, and the comparison at least 2 seeds")
    example = torch.randn(1, d, generator=torch.Generator().manual_seed(12345))  # (1, d)
    out: dict[str, list[float]] = {"BatchNorm": [], "LayerNorm": []}
    for size in batch_sizes:
        for name, norm in (("BatchNorm", nn.BatchNorm1d(d)), ("LayerNorm", LayerNorm(d))):
            outputs = []
            for seed in seeds:
                others = torch.randn(size - 1, d, generator=torch.Generator().manual_seed(seed))
                outputs.append(_example_zero(norm, torch.cat([example, others])))  # (d,)
            out[name].append(max((o - outputs[0]).pow(2).mean().sqrt().item() for o in outputs[1:]))
    return out


@single_threaded
def train_test_gap(d: int = 64, batch: int = 32, warm_batches: int = 5, seed: int = 0) -> dict[str, float]:
    """Largest difference between a batch's output in training mode and in evaluation mode,
    after ``warm_batches`` training-mode batches (from a shifted, scaled input distribution)
    have set BatchNorm's running statistics. LayerNorm: 0."""
    require_positive_int("d", d)
    require_positive_int("batch", batch)
    require_positive_int("warm_batches", warm_batches)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, norm in (("BatchNorm", nn.BatchNorm1d(d)), ("LayerNorm", LayerNorm(d))):
        gen.manual_seed(seed)
        with torch.no_grad():
            for _ in range(warm_batches):
                norm.train()(2.0 + 3.0 * torch.randn(batch, d, generator=gen))
            x = 2.0 + 3.0 * torch.randn(batch, d, generator=gen)  # (batch, d)
            out[name] = (norm.train()(x) - norm.eval()(x)).abs().max().item()
    return out


@single_threaded
def scale_invariance(
    scales: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0),
    d: int = 64,
    batch: int = 32,
    lr: float = 0.01,
    seed: int = 0,
) -> dict[float, dict[str, float]]:
    """A ``Linear(d, d, bias=False)`` followed by ``torch.nn.LayerNorm(d)``, its weight multiplied
    by each ``c`` in ``scales``; the loss is ``mean(v · LN(c W x))`` for fixed random ``x``, ``v``.
    Per ``c``: ``output change`` (largest ``|LN(cWx) - LN(Wx)|``), ``gradient`` (norm of
    ``∂loss/∂(cW)``, relative to ``c = 1``) and ``relative step`` (``lr · |grad| / |cW|`` of one
    SGD step). Scale invariance predicts 0, ``1/c`` and ``1/c²`` (up to ``eps``)."""
    require_positive_int("d", d)
    require_positive_int("batch", batch)
    require_positive_float("lr", lr)
    if (
        not isinstance(scales, tuple)
        or not scales
        or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and c > 0 for c in scales)
    ):
        raise TypeError(f"scales must be a non-empty tuple of positive numbers, got {scales!r}")
    gen = torch.Generator().manual_seed(seed)
    weight = nn.init.kaiming_uniform_(torch.empty(d, d), a=5**0.5, generator=gen)  # nn.Linear's default
    x = torch.randn(batch, d, generator=gen)  # (batch, d)
    v = torch.randn(batch, d, generator=gen)  # (batch, d)
    norm = nn.LayerNorm(d)
    reference = None
    out = {}
    for c in (1.0, *scales):
        w = (c * weight).requires_grad_(True)
        y = norm(x @ w.T)  # (batch, d)
        (grad,) = torch.autograd.grad((v * y).sum() / batch, w)
        if reference is None:
            reference = (y.detach(), grad.norm().item())
            continue
        out[float(c)] = {
            "output change": (y.detach() - reference[0]).abs().max().item(),
            "gradient": grad.norm().item() / reference[1],
            "relative step": lr * grad.norm().item() / w.detach().norm().item(),
        }
    return out
