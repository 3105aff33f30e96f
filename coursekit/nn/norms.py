"""Layer normalisation and RMS normalisation, written out from the formulas.

Both normalise each example over its last ``len(normalized_shape)`` dimensions (the
features), never over the batch, so they behave the same at train and test time and for
any batch size. Argument and parameter names match ``torch.nn.LayerNorm`` and
``torch.nn.RMSNorm`` so state dicts can be exchanged with them.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from ..validate import require_positive_float

Shape = int | tuple[int, ...] | list[int] | torch.Size


def _as_shape(normalized_shape: Shape) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (int(normalized_shape),)
    if not isinstance(normalized_shape, (tuple, list, torch.Size)) or not normalized_shape:
        raise TypeError(
            f"normalized_shape must be an int or a non-empty tuple of ints, got {normalized_shape!r}"
        )
    shape = tuple(normalized_shape)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ValueError(f"normalized_shape must contain positive ints, got {shape}")
    return shape


def _check_input(x: object, shape: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"input must be a floating-point tensor, got dtype {x.dtype}")
    if tuple(x.shape[-len(shape) :]) != shape or x.dim() < len(shape):
        raise ValueError(f"input of shape {tuple(x.shape)} does not end in normalized_shape {shape}")
    return x


class LayerNorm(nn.Module):
    r"""Layer normalisation (Ba, Kiros and Hinton, 2016).

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \cdot \gamma + \beta

    Mean and *biased* variance (divide by n, not n - 1) are taken per example over the last
    ``len(normalized_shape)`` dimensions; ``eps`` sits *inside* the square root.

    Args:
        normalized_shape: size of the trailing dimension(s) to normalise, e.g. ``d_model``.
        eps: added to the variance for numerical stability. Default: 1e-5.
        elementwise_affine: learn a gain ``weight`` (init 1) and, if ``bias``, a ``bias``
            (init 0). Default: True.
        bias: learn the additive ``bias``. Default: True.

    Shape:
        input ``(*, *normalized_shape)``, output the same shape.

    Example::

        >>> ln = LayerNorm(64)
        >>> ln(torch.randn(8, 10, 64)).shape
        torch.Size([8, 10, 64])
    """

    def __init__(
        self,
        normalized_shape: Shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = require_positive_float("eps", eps)
        self.elementwise_affine = elementwise_affine
        factory = {"device": device, "dtype": dtype}
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, **factory))
            self.bias = nn.Parameter(torch.zeros(self.normalized_shape, **factory)) if bias else None
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.normalized_shape)
        dims = tuple(range(-len(self.normalized_shape), 0))
        mean = x.mean(dim=dims, keepdim=True)
        var = (x - mean).pow(2).mean(dim=dims, keepdim=True)  # biased: divide by n
        y = (x - mean) / torch.sqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class RMSNorm(nn.Module):
    r"""Root-mean-square normalisation (Zhang and Sennrich, 2019).

    .. math::
        y = \frac{x}{\sqrt{\mathrm{mean}(x^2) + \epsilon}} \cdot \gamma

    LayerNorm without the mean subtraction and without a bias: cheaper, and in practice
    just as good at keeping the scale of activations in check.

    Args:
        normalized_shape: size of the trailing dimension(s) to normalise.
        eps: added inside the square root. Default ``None`` means, as in
            ``torch.nn.RMSNorm``, ``torch.finfo(x.dtype).eps``.
        elementwise_affine: learn a gain ``weight`` (init 1). Default: True.

    Shape:
        input ``(*, *normalized_shape)``, output the same shape.
    """

    def __init__(
        self,
        normalized_shape: Shape,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = None if eps is None else require_positive_float("eps", eps)
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.normalized_shape)
        dims = tuple(range(-len(self.normalized_shape), 0))
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        y = x * torch.rsqrt(x.pow(2).mean(dim=dims, keepdim=True) + eps)
        if self.weight is not None:
            y = y * self.weight
        return y

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
