"""Early, readable errors for bad input: a ValueError or TypeError that names the bad value.

Every block calls these at the top of ``forward`` / ``__init__`` so a learner who passes
the wrong thing gets a ``TypeError`` or ``ValueError`` naming the value and what was
expected, instead of a shape error from deep inside a matmul.
"""

from __future__ import annotations

import torch


def require_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is a positive ``int`` (bools refused), else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return value


def require_positive_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a positive real number, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive number, got {value!r} ({type(value).__name__})")
    if not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value}")
    return float(value)


def require_int_tuple(name: str, values: object, positive: bool = False) -> tuple[int, ...]:
    """Return ``values`` if it is a non-empty tuple of ints (all positive if ``positive``)."""
    if not isinstance(values, tuple) or not values:
        raise TypeError(f"{name} must be a non-empty tuple of ints, got {values!r}")
    if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise TypeError(f"{name} must hold ints only, got {values!r}")
    if positive and any(v <= 0 for v in values):
        raise ValueError(f"{name} must hold positive ints, got {values!r}")
    return values


def require_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming the options."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value  # type: ignore[return-value]


def require_features(name: str, x: object, features: int, min_dim: int = 1) -> torch.Tensor:
    """Check that ``x`` is a floating-point tensor whose last dimension is ``features``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (e.g. torch.float32), got dtype {x.dtype}; "
            "convert it with x.float()"
        )
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s), got shape {tuple(x.shape)}")
    if x.shape[-1] != features:
        raise ValueError(
            f"{name} has {x.shape[-1]} features in its last dimension (shape {tuple(x.shape)}), "
            f"but this module was built for {features}"
        )
    return x


def require_sequence(name: str, x: object, d_model: int) -> torch.Tensor:
    """Check that ``x`` is a float tensor of shape (batch, seq, d_model)."""
    require_features(name, x, d_model)
    if x.dim() != 3:  # type: ignore[union-attr]
        raise ValueError(
            f"{name} must have shape (batch, seq, d_model) = (_, _, {d_model}), got shape {tuple(x.shape)}"  # type: ignore[union-attr]
        )
    return x  # type: ignore[return-value]
