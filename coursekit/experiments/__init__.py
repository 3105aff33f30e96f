"""The experiments of SCIENCE.md: configuration and seed in, plain numbers out.

One module per family; none prints or plots (``coursekit.plots`` draws their numbers).
"""

from .degradation import DegradationConfig, DegradationResult, grad_norms_at_init, run_degradation
from .lesion import LesionConfig, LesionResult, run_lesion
from .models import BatchNormNet, TokenTransformer
from .normalisation import batch_dependence, layer_norm_bug_errors, train_test_gap
from .norm_placement import (
    GradientProfileConfig,
    WarmupConfig,
    WarmupResult,
    run_gradient_profile,
    run_prenorm_stream,
    run_warmup,
)
from .rank import run_rank_collapse
from .residual_paths import (
    TrainingGradConfig,
    TrainingGradResult,
    block_jacobian_spectrum,
    input_gradient_by_depth,
    run_training_grad_norms,
)
from .shattered import run_shattered
from .densenet import DenseNet, DenseNetConfig, DenseNetResult, run_densenet
from .shortcuts import ShortcutConfig, ShortcutResult, run_shortcuts
from .stream import StreamGrowthConfig, StreamGrowthResult, run_stream_growth, run_stream_scaling

__all__ = [
    "TrainingGradConfig",
    "TrainingGradResult",
    "batch_dependence",
    "block_jacobian_spectrum",
    "input_gradient_by_depth",
    "layer_norm_bug_errors",
    "run_training_grad_norms",
    "train_test_gap",
    "BatchNormNet",
    "DegradationConfig",
    "DegradationResult",
    "GradientProfileConfig",
    "LesionConfig",
    "LesionResult",
    "TokenTransformer",
    "ShortcutConfig",
    "ShortcutResult",
    "WarmupConfig",
    "WarmupResult",
    "grad_norms_at_init",
    "run_degradation",
    "run_gradient_profile",
    "run_lesion",
    "run_prenorm_stream",
    "run_rank_collapse",
    "run_shattered",
    "run_shortcuts",
    "run_stream_growth",
    "DenseNet",
    "DenseNetConfig",
    "DenseNetResult",
    "StreamGrowthConfig",
    "StreamGrowthResult",
    "run_densenet",
    "run_stream_scaling",
    "run_warmup",
]
