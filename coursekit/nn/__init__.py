"""The reference blocks: what a learner builds, with PyTorch's names, checked against ``torch.nn``.

Each is also the learner's contract (argument and attribute names, defaults, shapes): the
checks in :mod:`coursekit.checks` compare a learner's block with these.
"""

from .attention import SelfAttention, causal_mask
from .block import NORM_PLACEMENTS, NORMED_PLACEMENTS, TransformerBlock
from .mlp import MLP
from .norms import LayerNorm, RMSNorm
from .residual import Residual, add_and_norm
from .stack import MLPBlock, Stack, StackConfig, build_stack

__all__ = [
    "LayerNorm",
    "MLP",
    "MLPBlock",
    "NORM_PLACEMENTS",
    "NORMED_PLACEMENTS",
    "RMSNorm",
    "Residual",
    "SelfAttention",
    "Stack",
    "StackConfig",
    "TransformerBlock",
    "add_and_norm",
    "build_stack",
    "causal_mask",
]
