"""coursekit: the library behind the course on residual connections, LayerNorm and MLPs.

The blocks a learner builds have reference versions here, with PyTorch's names, so a
learner's module and the reference can exchange state dicts and be checked against
``torch.nn``.
"""

from .attention import SelfAttention, causal_mask
from .blocks import TransformerBlock
from .data import Task, load_digits, make_grid, make_sort, make_task
from .mlp import MLP
from .norms import LayerNorm, RMSNorm
from .probes import (
    error_rate,
    grad_norms_by_layer,
    gradient_autocorrelation,
    lesion,
    parameter_counts,
    rank_collapse,
    stream_norms,
    update_norms,
)
from .progress import show_progress
from .residual import Residual
from .seeding import default_device, seed_everything
from .stacks import Stack, StackConfig, build_stack
from .train import TrainConfig, TrainResult, train_many, train_model

__version__ = "0.1.0"

__all__ = [
    "LayerNorm",
    "MLP",
    "RMSNorm",
    "Residual",
    "SelfAttention",
    "Stack",
    "StackConfig",
    "TransformerBlock",
    "build_stack",
    "causal_mask",
    "default_device",
    "seed_everything",
    "show_progress",
    # experiments engine: tasks, training, probes
    "Task",
    "TrainConfig",
    "TrainResult",
    "error_rate",
    "grad_norms_by_layer",
    "gradient_autocorrelation",
    "lesion",
    "load_digits",
    "make_grid",
    "make_sort",
    "make_task",
    "parameter_counts",
    "rank_collapse",
    "stream_norms",
    "train_many",
    "train_model",
    "update_norms",
]
