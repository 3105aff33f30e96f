"""Check for the learner's ``MLP(d_model, d_hidden=None)``: fc1 → GELU → fc2.

The contract is checked clause by clause (constructor arguments and default, ``fc1`` and
``fc2`` as ``nn.Linear`` with biases, no other parameters), each failure naming its clause.
The learner's weights are then copied into the reference ``coursekit.MLP``; a mismatch is
compared with the usual slips run on the same weights: no activation, ReLU or tanh-GELU for
the exact GELU, the activation after the second layer or on both, a layer skipped. Then the
gradients with respect to the input and every parameter.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from torch.nn import functional as F

from ..nn import mlp as reference
from .core import (
    SHARED_HINTS,
    CheckFailed,
    call_forward,
    check,
    compare,
    compare_gradients,
    construct,
    extra_parameters,
    match_bug,
    require_class,
    require_from_scratch,
)

BATCH, SEQ, D, HIDDEN = 3, 4, 6, 10
SIGNATURE = "MLP(d_model, d_hidden=None)"

HINTS = {
    **SHARED_HINTS,
    "layers": "create self.fc1 = nn.Linear(d_model, d_hidden) and self.fc2 = nn.Linear(d_hidden, d_model)",
    "bias": "keep the biases: nn.Linear(d_model, d_hidden) has bias=True by default, and the contract uses "
    "it",
    "default_hidden": "d_hidden defaults to 4 * d_model, the width transformers use",
    "extra_params": "the contract's only parameters are fc1's and fc2's; remove the extra ones "
    "(GELU has none)",
    "activation_missing": "there is no activation between fc1 and fc2; "
    "two linear layers in a row are one linear map",
    "relu": "this course's MLP uses GELU (F.gelu or nn.GELU()), not ReLU",
    "tanh_gelu": "use the exact GELU (approximate='none'), not an approximation (tanh or sigmoid)",
    "other_activation": "this course's MLP uses GELU (F.gelu or nn.GELU()) between fc1 and fc2, not another "
    "activation",
    "activation_after": "the activation goes between fc1 and fc2, not after fc2",
    "bias_unused": "the output ignores a bias: call the layers themselves, self.fc2(F.gelu(self.fc1(x))), "
    "or pass each layer's .bias to F.linear",
    "activation_before": "the activation goes between fc1 and fc2: fc2(gelu(fc1(x))), not on the input",
    "residual_inside": "the MLP is the branch only: return fc2(gelu(fc1(x))); the block adds the residual",
    "detached": "the gradient does not match: is part of the computation detached (.detach(), .data)?",
    "from_scratch": "build the MLP from two nn.Linear layers and a GELU; do not subclass or wrap "
    "coursekit.MLP",
}


def _require_linear(module: nn.Module, name: str, fan_in: int, fan_out: int) -> nn.Linear:
    layer = getattr(module, name, None)
    if not isinstance(layer, nn.Linear) or (layer.in_features, layer.out_features) != (fan_in, fan_out):
        raise CheckFailed(
            f"MLP({D}, {HIDDEN}).{name} should be nn.Linear({fan_in}, {fan_out})", HINTS["layers"]
        )
    if layer.bias is None:
        raise CheckFailed(f"MLP({D}, {HIDDEN}).{name} has no bias", HINTS["bias"])
    return layer


def _require_default(cls: type) -> None:
    try:
        parameter = inspect.signature(cls).parameters.get("d_hidden")
    except (TypeError, ValueError):
        parameter = None
    if parameter is not None and parameter.default is inspect.Parameter.empty:
        raise CheckFailed(f"the contract says {SIGNATURE}: d_hidden has no default", HINTS["default_hidden"])
    fc1 = getattr(construct(cls, "MLP", SIGNATURE, D), "fc1", None)
    if getattr(fc1, "out_features", None) != 4 * D:
        raise CheckFailed(f"MLP({D}).fc1 does not have {4 * D} outputs", HINTS["default_hidden"])


@check("mlp")
def check_mlp(MLP: type) -> None:  # noqa: N803 - the learner's class, by its name
    """Check the learner's ``MLP(d_model, d_hidden=None)`` class.

    Contract: ``fc1 = nn.Linear(d_model, d_hidden)``, ``fc2 = nn.Linear(d_hidden, d_model)``,
    ``d_hidden`` defaulting to ``4 * d_model``; ``forward(x) = fc2(gelu(fc1(x)))`` with the exact GELU.
    """
    cls = require_class(MLP, "MLP", "check_mlp")
    try:
        require_from_scratch(cls, (reference.MLP,), "coursekit.MLP")
    except CheckFailed as exc:
        raise CheckFailed(exc.message, HINTS["from_scratch"]) from None
    module = construct(cls, "MLP", SIGNATURE, D, HIDDEN)
    try:
        require_from_scratch(module, (reference.MLP,), "coursekit.MLP")
    except CheckFailed as exc:
        raise CheckFailed(exc.message, HINTS["from_scratch"]) from None
    fc1 = _require_linear(module, "fc1", D, HIDDEN)
    fc2 = _require_linear(module, "fc2", HIDDEN, D)
    extra = extra_parameters(module, lambda n: n.split(".")[0] in ("fc1", "fc2"))
    if extra:
        raise CheckFailed(
            f"MLP({D}, {HIDDEN}) has parameter(s) {', '.join(extra[:3])} besides fc1 and fc2",
            HINTS["extra_params"],
        )
    _require_default(cls)

    x = torch.randn(BATCH, SEQ, D) * 2
    y = call_forward(module, x)
    ref = reference.MLP(D, HIDDEN)
    with torch.no_grad():
        for name in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"):
            ref.get_parameter(name).copy_(module.get_parameter(name))
        h = fc1(x)
        candidates = {
            "activation_missing": fc2(h),
            "relu": fc2(F.relu(h)),
            "tanh_gelu": fc2(F.gelu(h, approximate="tanh")),
            "activation_after": F.gelu(fc2(h)),
            "activation_after_both": F.gelu(fc2(F.gelu(h))),
            "relu_after": F.relu(fc2(F.relu(h))),
            "residual_inside": x + fc2(F.gelu(h)),
            "activation_before": fc2(fc1(F.gelu(x))),
            "bias_unused~fc2": F.linear(F.gelu(h), fc2.weight),
            "bias_unused~fc1": fc2(F.gelu(F.linear(x, fc1.weight))),
            "tanh_gelu~sigmoid": fc2(h * torch.sigmoid(1.702 * h)),
            "other_activation~silu": fc2(F.silu(h)),
            "other_activation~tanh": fc2(torch.tanh(h)),
            "other_activation~sigmoid": fc2(torch.sigmoid(h)),
            "other_activation~elu": fc2(F.elu(h)),
            "other_activation~softplus": fc2(F.softplus(h)),
            "other_activation~leaky": fc2(F.leaky_relu(h)),
        }
        expected = ref(x)
    bug = match_bug(y, candidates).split("~")[0]
    bug = {"activation_after_both": "activation_after", "relu_after": "activation_after"}.get(bug, bug)
    compare(y, expected, "output", HINTS.get(bug, ""))
    compare_gradients(module, ref, x, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], HINTS["detached"])
