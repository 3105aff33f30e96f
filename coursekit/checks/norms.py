"""Checks for the learner's ``LayerNorm`` and ``RMSNorm``, with a diagnosis of the usual bugs.

Each check takes the learner's *class*, so it can build it with the sizes and ``eps`` that
tell the bugs apart: a large ``eps`` on rows of small variance separates "eps inside the
square root" from "outside" and "ignored"; a narrow feature dimension (5) separates the
biased variance from the unbiased one by a factor sqrt(5/4); rows with different offsets
separate normalising over features from normalising over the batch or the sequence. When
the learner's output does not match the reference, it is compared with each known wrong
formula, and the hint names the one it matches.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..nn import norms as reference
from .core import (
    SHARED_HINTS,
    CheckFailed,
    call_forward,
    check,
    clause,
    close,
    compare,
    construct,
    extra_parameters,
    require_class,
    require_from_scratch,
)

BATCH, SEQ, D = 3, 4, 5
BIG_EPS = 0.25  # comparable to the row variances below, so every use of eps shows

Formula = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None, float], torch.Tensor]

HINTS = {
    **SHARED_HINTS,
    "eps_outside_sqrt": "eps belongs inside the square root: (x - mean) / sqrt(var + eps), "
    "not / (sqrt(var) + eps)",
    "unbiased_variance": "LayerNorm uses the biased variance (divide by n): var(unbiased=False), "
    "not torch.var's default",
    "unbiased_std_eps_outside": "the classic bug: (x - mean) / (x.std() + eps) uses the unbiased std "
    "and puts eps outside the root; use sqrt(var(unbiased=False) + eps)",
    "wrong_dim": "normalise each example over its features, the last dimension (dim=-1, keepdim=True), "
    "not over the batch, the sequence or the whole tensor",
    "no_affine": "the output ignores the learned parameters: multiply by self.weight, then add self.bias",
    "no_bias": "the output ignores self.bias: add it after multiplying by self.weight",
    "no_gain": "the output ignores self.weight: multiply by it",
    "eps_ignored": "eps is not used: add self.eps inside the square root",
    "eps_hardcoded": "use self.eps, the eps passed to the constructor, not a fixed number",
    "no_centering": "LayerNorm subtracts the mean first; without that it is RMSNorm",
    "centering": "RMSNorm does not subtract the mean: divide x itself by sqrt(mean(x**2) + eps)",
    "no_sqrt": "take the square root of mean(x**2) + eps before dividing",
    "sum_not_mean": "use the mean of the squares over the features, not their sum (x.norm() is a sum)",
    "rms_eps_outside_sqrt": "eps belongs inside the square root: x / sqrt(mean(x**2) + eps)",
    "rms_eps_none": "with eps=None use torch.finfo(x.dtype).eps, as torch.nn.RMSNorm does",
    "rms_eps_dtype": "with eps=None use the eps of the input's dtype, torch.finfo(x.dtype).eps: "
    "float64 inputs get float64's eps, not float32's",
    "extra_params": "the contract's only parameters are the gain `weight` (and LayerNorm's `bias`); "
    "keep constants as plain attributes (or register_buffer) so they are not learned",
    "from_scratch_ln": "this exercise is from scratch: compute the mean, variance and normalisation "
    "yourself with tensor operations; do not subclass, wrap or call torch.nn.LayerNorm, "
    "F.layer_norm or coursekit.LayerNorm",
    "from_scratch_rms": "this exercise is from scratch: compute the root mean square yourself with "
    "tensor operations; do not subclass, wrap or call torch.nn.RMSNorm, F.rms_norm or coursekit.RMSNorm",
    "missing_gain": "missing gain: create self.weight = nn.Parameter(torch.ones(normalized_shape)), "
    "so it is learned",
    "missing_bias": "missing bias: create self.bias = nn.Parameter(torch.zeros(normalized_shape)), "
    "so it is learned",
    "gain_init": "initialise the gain to ones (torch.ones), so a fresh module only normalises",
    "bias_init": "initialise the bias to zeros (torch.zeros), so a fresh module only normalises",
    "param_shape": "the gain and bias have one entry per feature: shape (normalized_shape,)",
    "default_eps": "keep PyTorch's default eps in the constructor's signature",
    "rms_abs_mean": "the root mean square is sqrt(mean(x**2) + eps), not the mean of |x|",
    "other_sizes": "use the sizes you are given: normalized_shape for the parameters, dim=-1 (the last "
    "dimension) in forward; nothing fixed to one width or one number of dimensions",
    "affine_order": "normalise first, then scale by self.weight (and, in LayerNorm, add self.bias): "
    "the gain multiplies the normalised output, never the input",
    "bias_sign": "add the bias (+ self.bias); do not subtract it",
    "param_swap": "multiply by self.weight (the gain) and add self.bias (the shift), not the other way round",
    "eps_used_wrong": "add eps itself inside the square root: sqrt(var + eps), not eps**2 or sqrt(eps)",
    "rms_is_std": "RMSNorm divides by the root mean square of x itself, sqrt(mean(x**2) + eps), "
    "not by its standard deviation",
    "detached": "the gradient does not match: is part of the computation detached "
    "(.detach(), .data, .item() or torch.no_grad())?",
}


def _layer_norm_formulas() -> dict[str, Formula]:
    def affine(z: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return z * w + (0 if b is None else b)

    def centred(x: torch.Tensor) -> torch.Tensor:
        return x - x.mean(-1, keepdim=True)

    def var(x: torch.Tensor, unbiased: bool = False, dim: object = -1) -> torch.Tensor:
        return x.var(dim=dim, unbiased=unbiased, keepdim=True)

    def over(dim: object) -> Formula:
        def f(x, w, b, eps):  # noqa: ANN001, ANN202
            mean = x.mean(dim=dim, keepdim=True)
            return affine((x - mean) / torch.sqrt(var(x, dim=dim) + eps), w, b)

        return f

    return {
        "eps_outside_sqrt": lambda x, w, b, eps: affine(centred(x) / (var(x).sqrt() + eps), w, b),
        "unbiased_variance": lambda x, w, b, eps: affine(centred(x) / torch.sqrt(var(x, True) + eps), w, b),
        "unbiased_std_eps_outside": lambda x, w, b, eps: affine(
            centred(x) / (x.std(-1, keepdim=True) + eps), w, b
        ),
        "wrong_dim": over(0),
        "wrong_dim_1": over(1),
        "wrong_dim_all": over((0, 1, 2)),
        "no_affine": lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], eps=eps),
        "no_bias": lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], w, None, eps=eps),
        "no_gain": lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], None, b, eps=eps),
        "eps_ignored": lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], w, b, eps=0.0),
        "eps_hardcoded": lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], w, b, eps=1e-5),
        "no_centering": lambda x, w, b, eps: affine(x / torch.sqrt(var(x) + eps), w, b),
        "wrong_dim~01": over((0, 1)),
        "wrong_dim~12": over((1, 2)),
        "wrong_dim~02": over((0, 2)),
        "affine_order": lambda x, w, b, eps: F.layer_norm(x * w, x.shape[-1:], eps=eps) + b,
        "bias_sign": lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], eps=eps) * w - b,
        "param_swap": lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], eps=eps) * b + w,
        "eps_used_wrong~sq": lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], w, b, eps=eps * eps),
        "eps_used_wrong~sqrt": lambda x, w, b, eps: affine(centred(x) / (var(x).sqrt() + eps**0.5), w, b),
    }


def _rms_norm_formulas() -> dict[str, Formula]:
    def ms(x: torch.Tensor, dim: object = -1) -> torch.Tensor:
        return x.pow(2).mean(dim=dim, keepdim=True)

    def over(dim: object) -> Formula:
        return lambda x, w, b, eps: x / torch.sqrt(ms(x, dim) + eps) * w

    return {
        "centering": lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], w, None, eps=eps),
        "rms_eps_outside_sqrt": lambda x, w, b, eps: x / (ms(x).sqrt() + eps) * w,
        "no_sqrt": lambda x, w, b, eps: x / (ms(x) + eps) * w,
        "sum_not_mean": lambda x, w, b, eps: x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps) * w,
        "wrong_dim": over(0),
        "wrong_dim_1": over(1),
        "wrong_dim_all": over((0, 1, 2)),
        "no_gain": lambda x, w, b, eps: x / torch.sqrt(ms(x) + eps),
        "eps_ignored": lambda x, w, b, eps: x / ms(x).sqrt() * w,
        "eps_hardcoded": lambda x, w, b, eps: x / torch.sqrt(ms(x) + 1e-5) * w,
        "wrong_dim~01": over((0, 1)),
        "wrong_dim~12": over((1, 2)),
        "wrong_dim~02": over((0, 2)),
        "eps_used_wrong~sq": lambda x, w, b, eps: x / torch.sqrt(ms(x) + eps * eps) * w,
        "affine_order": lambda x, w, b, eps: (x * w) / torch.sqrt(ms(x * w) + eps),
        "affine_order~inside": lambda x, w, b, eps: x / torch.sqrt(ms(x * w) + eps),
        "rms_is_std": lambda x, w, b, eps: x / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + eps) * w,
        "rms_abs_mean": lambda x, w, b, eps: x / (x.abs().mean(-1, keepdim=True) + eps) * w,
        "rms_abs_mean~in": lambda x, w, b, eps: x / (x.abs().mean(-1, keepdim=True) + eps**0.5) * w,
    }


def _inputs(dtype: torch.dtype = torch.float32, scale: float = 1.0) -> torch.Tensor:
    """(batch, seq, d_model) rows with different spreads (0.2 to 1.5) and offsets (-2 to 2)."""
    spread = torch.linspace(0.2, 1.5, BATCH * SEQ).view(BATCH, SEQ, 1)
    offset = torch.linspace(-2.0, 2.0, BATCH * SEQ).view(BATCH, SEQ, 1)
    return ((torch.randn(BATCH, SEQ, D) * spread + offset) * scale).to(dtype)


def _require_eps_default(cls: type, default: float | None, name: str) -> None:
    try:
        parameter = inspect.signature(cls).parameters.get("eps")
    except (TypeError, ValueError):
        parameter = None
    if parameter is None or parameter.default != default:
        raise CheckFailed(
            f"{name}'s constructor should be {name}(normalized_shape, eps={default})", HINTS["default_eps"]
        )


def _require_parameter(module: nn.Module, attr: str, init: float, name: str) -> nn.Parameter:
    p = getattr(module, attr, None)
    role = "gain" if attr == "weight" else "bias"
    if not isinstance(p, nn.Parameter):
        raise CheckFailed(f"{name}({D}) has no nn.Parameter called `{attr}`", HINTS[f"missing_{role}"])
    if tuple(p.shape) != (D,):
        raise CheckFailed(f"`{attr}` has shape {tuple(p.shape)}, expected ({D},)", HINTS["param_shape"])
    if not torch.equal(p.detach(), torch.full((D,), float(init), dtype=p.dtype)):
        values = ", ".join(f"{v:.3g}" for v in p.detach()[:3].tolist())
        raise CheckFailed(f"`{attr}` starts at [{values}, ...], expected all {init:g}", HINTS[f"{role}_init"])
    return p


def _diagnose(
    y: torch.Tensor,
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    eps: float,
    formulas: dict[str, Formula],
) -> str:
    with torch.no_grad():
        for bug, formula in formulas.items():
            if close(y.detach(), formula(x, w, b, eps)):
                return HINTS[bug.split("~")[0].removesuffix("_1").removesuffix("_all")]
    return ""


def _check_gradients(
    module: nn.Module, reference_module: nn.Module, x: torch.Tensor, names: list[str]
) -> None:
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    mine = torch.autograd.grad(
        module(x1).pow(2).sum(), [x1, *(getattr(module, n) for n in names)], allow_unused=True
    )
    ref = torch.autograd.grad(
        reference_module(x2).pow(2).sum(), [x2, *(getattr(reference_module, n) for n in names)]
    )
    for label, g, r in zip(["input", *names], mine, ref, strict=True):
        if g is None or not close(g, r, rtol=1e-4, atol=1e-5):
            raise CheckFailed(f"the gradient with respect to the {label} is wrong", HINTS["detached"])


@dataclass(frozen=True)
class NormSpec:
    """What the norm check holds a learner's class to: its name, whether it has a bias, its
    default ``eps``, the course's and torch's modules for an ``eps``, and the known-bug formulas."""

    name: str
    bias: bool
    default_eps: float | None
    make_reference: Callable[[float | None], nn.Module]
    make_torch: Callable[[float | None], nn.Module]
    formulas: dict[str, Formula]

    @property
    def signature(self) -> str:
        return f"{self.name}(normalized_shape, eps={self.default_eps})"

    @property
    def parameter_names(self) -> list[str]:
        return ["weight", "bias"] if self.bias else ["weight"]


def _norm_check(cls: object, spec: NormSpec) -> None:
    """Every clause of the norm contract in turn: built from scratch, eps's default, the
    parameters, values against both references, eps and dtype, gradients, other shapes."""
    name = spec.name
    cls = require_class(cls, name, f"check_{'layer_norm' if name == 'LayerNorm' else 'rms_norm'}")
    scratch = HINTS["from_scratch_ln" if spec.bias else "from_scratch_rms"]
    torch_eps = None if spec.default_eps is None else 1e-5
    forbidden = (type(spec.make_torch(torch_eps)), type(spec.make_reference(BIG_EPS)))
    _from_scratch(cls, forbidden, scratch)
    _require_eps_default(cls, spec.default_eps, name)
    module = construct(cls, name, spec.signature, D, eps=BIG_EPS)
    _from_scratch(module, forbidden, scratch)
    params = _learned_parameters(module, spec)
    x = _inputs()
    _compare_values(module, params, x, spec)
    _compare_eps_and_dtype(cls, spec)
    names = spec.parameter_names
    _check_gradients(module, make_torch_copy(module, spec.make_torch(BIG_EPS), names), x, names)
    _compare_other_shapes(cls, spec)
    ops = frozenset({"layer_norm", "rms_norm", "group_norm", "instance_norm", "batch_norm"})
    _from_scratch(module, (), scratch, run=lambda: module(x), ops=ops)


def _learned_parameters(module: nn.Module, spec: NormSpec) -> list[nn.Parameter]:
    """The gain (and bias), at their initial values, and no parameter besides them."""
    names = spec.parameter_names
    params = [_require_parameter(module, n, 1.0 if n == "weight" else 0.0, spec.name) for n in names]
    extra = extra_parameters(module, lambda n: n in names)
    if extra:
        raise CheckFailed(
            f"{spec.name}({D}) has parameter(s) {', '.join(extra)} besides {' and '.join(names)}",
            HINTS["extra_params"],
        )
    return params


def _compare_values(module: nn.Module, params: list[nn.Parameter], x: torch.Tensor, spec: NormSpec) -> None:
    """The output with learned (random) gain and bias, against the course's and torch's modules."""
    call_forward(module, x)
    with torch.no_grad():  # learned values, so that a missing gain or bias shows
        for p in params:
            p.copy_(torch.randn(D) * 0.5 + (1.0 if p is params[0] else 0.0))
    y = call_forward(module, x)
    w, b = params[0].detach(), (params[1].detach() if spec.bias else None)
    for label, other in [
        ("output", spec.make_reference(BIG_EPS)),
        (f"output (against torch.nn.{spec.name})", spec.make_torch(BIG_EPS)),
    ]:
        with torch.no_grad():
            expected = make_torch_copy(module, other, spec.parameter_names)(x)
        compare(y, expected, label, _diagnose(y, x, w, b, BIG_EPS, spec.formulas))


def _compare_eps_and_dtype(cls: type, spec: NormSpec) -> None:
    """The default eps where it matters (tiny inputs), in float32 and float64."""
    name, signature, default_eps = spec.name, spec.signature, spec.default_eps
    eps_hint = HINTS["rms_eps_none"] if default_eps is None else HINTS["eps_hardcoded"]
    tiny = _inputs(scale=1e-4)  # mean(x**2) ~ 1e-8, below float32's eps: shows how eps=None is read
    compare(
        call_forward(construct(cls, name, signature, D), tiny),
        spec.make_torch(default_eps)(tiny).detach(),
        f"output with the default eps={default_eps}",
        eps_hint,
    )
    x64 = _inputs(torch.float64)
    module64 = construct(cls, name, signature, D, eps=BIG_EPS).double()
    expected64 = spec.make_reference(BIG_EPS).double()(x64).detach()
    compare(call_forward(module64, x64), expected64, "float64 output", HINTS["dtype"])
    tiny64 = _inputs(torch.float64, scale=1e-4)  # float64's eps is 2e-16: a float32 eps shows here
    compare(
        call_forward(construct(cls, name, signature, D).double(), tiny64),
        spec.make_torch(default_eps).double()(tiny64).detach(),
        f"float64 output with the default eps={default_eps}",
        HINTS["rms_eps_dtype"] if default_eps is None else HINTS["eps_hardcoded"],
    )


def _compare_other_shapes(cls: type, spec: NormSpec) -> None:
    """Another width, and inputs of two and four dimensions."""
    name = spec.name
    for shape in [(4, 7), (2, 2, 3, 7)]:
        other = torch.randn(*shape) * 1.5 + 0.5
        with clause(f"{name}(7) on an input of shape {shape} failed", HINTS["other_sizes"], learner_too=True):
            got = call_forward(construct(cls, name, spec.signature, 7, eps=BIG_EPS), other)
        expected = type(spec.make_torch(BIG_EPS))(7, eps=BIG_EPS)(other).detach()
        compare(got, expected, f"{name}(7)'s output on an input of shape {shape}", HINTS["other_sizes"])


def _from_scratch(obj: object, forbidden: tuple[type, ...], hint: str, **kwargs: object) -> None:
    what = (
        " or ".join(
            ("torch.nn." if c.__module__.startswith("torch") else "coursekit.") + c.__qualname__
            for c in forbidden
        )
        or "torch's own"
    )
    try:
        require_from_scratch(obj, forbidden, what, **kwargs)  # type: ignore[arg-type]
    except CheckFailed as exc:
        raise CheckFailed(exc.message, hint) from None


def make_torch_copy(module: nn.Module, target: nn.Module, names: list[str]) -> nn.Module:
    """``target`` with ``module``'s learned parameters copied in."""
    with torch.no_grad():
        for n in names:
            getattr(target, n).copy_(getattr(module, n))
    return target


@check("layer_norm")
def check_layer_norm(LayerNorm: type) -> None:  # noqa: N803 - the learner's class, by its name
    """Check the learner's ``LayerNorm(normalized_shape, eps=1e-5)`` class.

    Contract: ``weight`` (init 1) and ``bias`` (init 0) parameters of shape
    ``(normalized_shape,)``; normalise each example over the last dimension with the biased
    variance and ``eps`` inside the square root. Compared with ``coursekit.LayerNorm`` and
    ``torch.nn.LayerNorm`` on copied weights, in float32 and float64, values and gradients.
    """
    spec = NormSpec(
        "LayerNorm",
        bias=True,
        default_eps=1e-5,
        make_reference=lambda eps: reference.LayerNorm(D, eps=eps),
        make_torch=lambda eps: nn.LayerNorm(D, eps=eps),
        formulas=_layer_norm_formulas(),
    )
    _norm_check(LayerNorm, spec)


@check("rms_norm")
def check_rms_norm(RMSNorm: type) -> None:  # noqa: N803 - the learner's class, by its name
    """Check the learner's ``RMSNorm(normalized_shape, eps=None)`` class.

    Contract: a ``weight`` parameter (init 1); ``y = x / sqrt(mean(x**2) + eps) * weight`` over
    the last dimension, with ``eps=None`` meaning ``torch.finfo(x.dtype).eps``. Compared with
    ``coursekit.RMSNorm`` and ``torch.nn.RMSNorm`` on copied weights.
    """
    spec = NormSpec(
        "RMSNorm",
        bias=False,
        default_eps=None,
        make_reference=lambda eps: reference.RMSNorm(D, eps=eps),
        make_torch=lambda eps: nn.RMSNorm(D, eps=eps),
        formulas=_rms_norm_formulas(),
    )
    _norm_check(RMSNorm, spec)
