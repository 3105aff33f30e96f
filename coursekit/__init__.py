"""coursekit: the library behind the course on residual connections, LayerNorm and MLPs.

The layers, each importing only from those below it:

- ``validate``, ``seeding``, ``data``: foundations;
- ``nn/``: the reference blocks, with PyTorch's names (the learners' contracts);
- ``measures``, ``probes``: the one implementation of each measure, and probes that leave no trace;
- ``training/``: the textbook loop and the batched engine;
- ``experiments/``: the published results in miniature, config in, result out;
- ``plots``, ``widgets/``: thin layers that draw the experiments' numbers;
- ``checks/``: the exercise checks; ``course/``: the tooling (layout, build, grade, progress,
  execute, doctor, bench, the ``coursekit`` command). ``course/layout.py`` and
  ``course/progress.py`` use the standard library only, so the checks may record progress.

Notebooks import from ``coursekit``, ``coursekit.checks``, ``coursekit.widgets`` and
``coursekit.plots`` only.
"""

from .course.doctor import show_environment
from .course.progress import show_progress
from .data import Task, load_digits, make_grid, make_sort, make_task
from .nn import (
    MLP,
    LayerNorm,
    Residual,
    RMSNorm,
    SelfAttention,
    Stack,
    StackConfig,
    TransformerBlock,
    build_stack,
    causal_mask,
)
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
from .seeding import default_device, seed_everything
from .training import TrainConfig, TrainResult, train_many, train_model

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
    "show_environment",
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
