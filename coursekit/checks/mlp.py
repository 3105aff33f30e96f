"""Check for the learner's ``MLP(d_model, d_hidden=None)``: fc1 → GELU → fc2.

The learner's weights are copied into the reference ``coursekit.MLP``; a mismatch is then
compared with the usual slips: no activation, ReLU or tanh-GELU for the exact GELU, or the
activation after the second layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..nn import mlp as reference
from .core import SHARED_HINTS, CheckFailed, call_forward, check, close, compare, match_bug, require_class

BATCH, SEQ, D, HIDDEN = 3, 4, 6, 10

HINTS = {
    **SHARED_HINTS,
    "layers": "create self.fc1 = nn.Linear(d_model, d_hidden) and self.fc2 = nn.Linear(d_hidden, d_model)",
    "default_hidden": "d_hidden defaults to 4 * d_model, the width transformers use",
    "activation_missing": "there is no activation between fc1 and fc2; "
    "two linear layers in a row are one linear map",
    "relu": "this course's MLP uses GELU (F.gelu or nn.GELU()), not ReLU",
    "tanh_gelu": "use the exact GELU (approximate='none'), not the tanh approximation",
    "activation_after": "the activation goes between fc1 and fc2, not after fc2",
    "detached": "the gradient does not match: is part of the computation detached (.detach(), .data)?",
}


def _require_linear(module: nn.Module, name: str, fan_in: int, fan_out: int) -> nn.Linear:
    layer = getattr(module, name, None)
    if not isinstance(layer, nn.Linear) or (layer.in_features, layer.out_features) != (fan_in, fan_out):
        raise CheckFailed(
            f"MLP({D}, {HIDDEN}).{name} should be nn.Linear({fan_in}, {fan_out})", HINTS["layers"]
        )
    return layer


@check("mlp")
def check_mlp(MLP: type) -> None:  # noqa: N803 - the learner's class, by its name
    """Check the learner's ``MLP(d_model, d_hidden=None)`` class.

    Contract: ``fc1 = nn.Linear(d_model, d_hidden)``, ``fc2 = nn.Linear(d_hidden, d_model)``,
    ``d_hidden`` defaulting to ``4 * d_model``; ``forward(x) = fc2(gelu(fc1(x)))`` with the exact GELU.
    """
    cls = require_class(MLP, "MLP", "check_mlp")
    module = cls(D, HIDDEN)
    fc1 = _require_linear(module, "fc1", D, HIDDEN)
    fc2 = _require_linear(module, "fc2", HIDDEN, D)
    if getattr(getattr(cls(D), "fc1", None), "out_features", None) != 4 * D:
        raise CheckFailed(f"MLP({D}).fc1 does not have {4 * D} outputs", HINTS["default_hidden"])

    x = torch.randn(BATCH, SEQ, D) * 2
    y = call_forward(module, x)
    ref = reference.MLP(D, HIDDEN)
    ref.load_state_dict({k: v.detach().clone() for k, v in module.state_dict().items() if k.startswith("fc")})
    with torch.no_grad():
        h = fc1(x)
        candidates = {
            "activation_missing": fc2(h),
            "relu": fc2(F.relu(h)),
            "tanh_gelu": fc2(F.gelu(h, approximate="tanh")),
            "activation_after": F.gelu(fc2(h)),
        }
        expected = ref(x)
    compare(y, expected, "output", HINTS.get(match_bug(y, candidates), ""))

    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    (mine,) = torch.autograd.grad(module(x1).pow(2).sum(), [x1], allow_unused=True)
    (theirs,) = torch.autograd.grad(ref(x2).pow(2).sum(), [x2])
    if mine is None or not close(mine, theirs, rtol=1e-4, atol=1e-5):
        raise CheckFailed("the gradient with respect to the input is wrong", HINTS["detached"])
