"""Un-normalised residual streams blow up; scaling the branch fixes it.

Identity shortcuts *add* the branch's variance every block (so "residuals fix exploding
gradients" is a myth). Fixes: multiply each branch by 1/√L (Fixup, Zhang et al. 2019;
DeepNet, Wang et al. 2022) or gate it with a learned scalar that starts at 0 (ReZero,
Bachlechner et al. 2020). Measured at init on a stack of MLP blocks without norms.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..probes import stream_norms
from ..seeding import seed_everything, single_threaded
from ..stacks import Stack, StackConfig
from ..validate import require_positive_int

VARIANTS = ("identity", "1/sqrt(L)", "rezero")


def he_init(stack: Stack) -> Stack:
    """He initialisation of every MLP branch: ``fc1`` for ReLU, ``fc2`` variance-preserving,
    so each branch's output has about its input's variance (the "He init" of SCIENCE.md)."""
    for module in stack.modules():
        if hasattr(module, "fc1") and hasattr(module, "fc2"):
            nn.init.kaiming_normal_(module.fc1.weight, nonlinearity="relu")
            nn.init.kaiming_normal_(module.fc2.weight, nonlinearity="linear")
            nn.init.zeros_(module.fc1.bias)
            nn.init.zeros_(module.fc2.bias)
    return stack


@single_threaded
def run_stream_growth(
    depth: int = 50, d_model: int = 64, batch: int = 256, seed: int = 0
) -> dict[str, list[float]]:
    """RMS of the stream after each block (``depth + 1`` numbers, the input first), per variant:
    ``identity`` (x + f(x)), ``1/sqrt(L)`` (x + f(x)/√L), ``rezero`` (x + α f(x), α = 0 at init)."""
    require_positive_int("depth", depth)
    options = {"identity": {}, "1/sqrt(L)": {"branch_scale": 1 / math.sqrt(depth)}, "rezero": {"gate": True}}
    out = {}
    for name, extra in options.items():
        seed_everything(seed)
        config = StackConfig(depth, d_model, norm="none", activation="relu", **extra)
        stack = he_init(Stack(config))
        x = torch.randn(batch, d_model, generator=torch.Generator().manual_seed(seed))  # (batch, d_model)
        out[name] = stream_norms(stack, x)
    return out
