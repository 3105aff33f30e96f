"""Check for the learner's ``Residual(sublayer)``: ``y = x + sublayer(x)``, nothing more.

The wrapped branch is a random linear map, so "branch only", "x added twice", "branch added
twice" and "multiplied instead of added" all give different outputs; a zero branch must give
back exactly the input; the gradient must carry the identity term.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn import residual as reference
from .core import (
    SHARED_HINTS,
    CheckFailed,
    call_forward,
    check,
    close,
    compare,
    construct,
    match_bug,
    require_class,
    require_from_scratch,
)

BATCH, SEQ, D = 3, 4, 6

HINTS = {
    **SHARED_HINTS,
    "no_residual": "the skip is missing: return x + self.sublayer(x), not the branch alone",
    "residual_twice": "x is added twice: return x + self.sublayer(x), with x once",
    "branch_twice": "the branch is added twice (or called twice): compute self.sublayer(x) once",
    "multiplied": "a residual adds the branch to x: x + f(x), not x * f(x)",
    "sublayer_attr": "store the wrapped module as self.sublayer, so it is registered and trained",
    "scaled": "a plain residual adds the branch as it is: x + self.sublayer(x), with no scale or average",
    "detached": "the gradient does not match: is part of the computation detached (.detach(), .data)?",
    "from_scratch": "write the residual yourself (x + self.sublayer(x)); do not subclass or wrap "
    "coursekit.Residual",
    "identity": "with a branch that outputs zeros a residual returns x exactly: apply nothing after the "
    "addition (no activation, norm or scale)",
    "mode": "forward must not switch the model between train() and eval()",
}


@check("residual")
def check_residual(Residual: type) -> None:  # noqa: N803 - the learner's class, by its name
    """Check the learner's ``Residual(sublayer)`` class.

    Contract: stores the branch as ``self.sublayer``; ``forward(x)`` returns
    ``x + self.sublayer(x)`` as a new tensor (the input is left unchanged).
    """
    cls = require_class(Residual, "Residual", "check_residual")
    try:
        require_from_scratch(cls, (reference.Residual,), "coursekit.Residual")
    except CheckFailed as exc:
        raise CheckFailed(exc.message, HINTS["from_scratch"]) from None
    branch = nn.Linear(D, D)
    module = construct(cls, "Residual", "Residual(sublayer)", branch)
    if getattr(module, "sublayer", None) is not branch:
        raise CheckFailed("Residual(f).sublayer is not f", HINTS["sublayer_attr"])
    x = torch.randn(BATCH, SEQ, D)
    y = call_forward(module, x)
    with torch.no_grad():
        f = branch(x)
        candidates = {
            "no_residual": f,
            "residual_twice": 2 * x + f,
            "branch_twice": x + 2 * f,
            "multiplied": x * f,
            "scaled": (x + f) / 2,
            "scaled_sqrt": (x + f) / 2**0.5,
            "scaled_branch": x + 0.5 * f,
        }
    bug = match_bug(y, candidates)
    zero = nn.Linear(D, D)
    nn.init.zeros_(zero.weight)
    nn.init.zeros_(zero.bias)
    identity = torch.equal(call_forward(cls(zero), x), x)
    if not bug and not identity and not close(y, x + f):
        bug = "identity"
    compare(y, x + f, "output", HINTS.get("scaled" if bug.startswith("scaled") else bug, ""))
    module.train()
    call_forward(module, x)
    if not module.training or not branch.training:
        raise CheckFailed("forward switched the module to eval mode", HINTS["mode"])

    if not identity:
        raise CheckFailed(
            "with a branch that outputs zeros the output is not exactly the input", HINTS["no_residual"]
        )

    x1 = x.clone().requires_grad_()
    out = module(x1)
    if not out.requires_grad:
        raise CheckFailed("the output does not depend on the input in autograd's eyes", HINTS["detached"])
    (grad,) = torch.autograd.grad(out.sum(), [x1], allow_unused=True)
    expected = torch.ones_like(x) + branch.weight.detach().sum(0)  # identity + the branch's Jacobian
    if grad is None or not close(grad, expected):
        raise CheckFailed("the gradient with respect to the input is wrong", HINTS["detached"])
