"""What the engine asks of a model: the ``forward_stacked`` contract, written once.

A model class may define ``forward_stacked(params_and_buffers, x) -> logits`` where
``params_and_buffers`` maps every parameter and buffer name to its stacked tensor
``(variant, ...)``, ``x`` is one minibatch shared by all variants, and the logits are
``(variant, batch, ..., n_classes)``: what ``forward`` gives each variant, computed with
explicit batched ops (``torch.bmm``; :mod:`.layers` holds the course's). Without it,
``torch.func.vmap`` over ``forward`` does the same, more slowly. The names are the model's
own: the engine reads none of them.

Before training, each variant's own ``forward`` is compared with the shared computation
(:func:`require_one_forward`), so a setting that no tensor shows (a Python attribute) cannot
silently train every variant as the first.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import nn
from torch.func import functional_call

Stacked = dict[str, torch.Tensor]  # parameter and buffer names -> (variant, ...) tensors


@runtime_checkable
class StackedForward(Protocol):
    """A model that computes many variants of itself at once (module docstring)."""

    def forward_stacked(self, p: Stacked, x: torch.Tensor) -> torch.Tensor:
        """The logits ``(variant, batch, ..., n_classes)`` of every variant stacked in ``p``."""
        ...


@runtime_checkable
class DepthSweepForward(Protocol):
    """A :class:`StackedForward` whose variants may differ in depth (a ``blocks`` list of their
    own length): ``active[i]`` variants, the first ones, run block ``i``, and the others pass
    their input through (:func:`~coursekit.engine.train_depth_sweep`)."""

    def forward_stacked(
        self, p: Stacked, x: torch.Tensor, active: Sequence[int] | None = None
    ) -> torch.Tensor: ...


def has_stacked_forward(model: nn.Module) -> bool:
    """Whether ``model`` keeps the :class:`StackedForward` contract."""
    return isinstance(model, StackedForward)


def takes_active(model: nn.Module) -> bool:
    """Whether ``model`` keeps the :class:`DepthSweepForward` contract: its ``forward_stacked``
    takes ``active``."""
    return has_stacked_forward(model) and "active" in inspect.signature(model.forward_stacked).parameters


def structure(model: nn.Module) -> tuple:
    """What variants trained together must share: the class, every submodule's name, class and
    settings as its ``extra_repr`` shows them, and every parameter's and buffer's name and shape.
    (Settings held in plain attributes no repr shows are caught later, by
    :func:`require_one_forward`.)"""
    return (
        type(model),
        tuple((name, type(m), m.extra_repr()) for name, m in model.named_modules()),
        tuple((n, p.shape) for n, p in model.named_parameters()),
        tuple((n, b.shape) for n, b in model.named_buffers()),
    )


def require_one_forward(
    models: list[nn.Module], shared_logits: torch.Tensor, x: torch.Tensor, numbers: list[int]
) -> None:
    """Refuse variants whose own forward is not what the shared computation gives them
    (``numbers``: the models' positions in the caller's list, for the message).

    A setting the forward reads but no tensor shows (say ``self.residual = False`` in a
    learner's class) would otherwise silently train every variant as ``models[0]``.
    """
    with torch.no_grad():
        for v, model in enumerate(models):
            # on copies of the buffers, so BatchNorm running statistics stay as they were (cheaper
            # than copying the whole model)
            own = functional_call(model, {n: b.clone() for n, b in model.named_buffers()}, (x,))
            if not torch.allclose(own, shared_logits[v], rtol=1e-3, atol=1e-4):
                raise ValueError(
                    f"models[{numbers[v]}] computes something else than models[0] would with its weights: "
                    "they differ in a setting no tensor shows (such as residual=True/False). "
                    "Keep such a switch in a buffer, or train each model with train_model"
                )
