"""The experiments of SCIENCE.md: configuration and seed in, plain numbers out.

One module per family; none prints or plots (``coursekit.plots`` draws their numbers).
"""

from .degradation import DegradationConfig, DegradationResult, grad_norms_at_init, run_degradation
from .lesion import LesionConfig, LesionResult, run_lesion
from .models import BatchNormNet, TokenTransformer
from .norm_placement import (
    GradientProfileConfig,
    WarmupConfig,
    WarmupResult,
    run_gradient_profile,
    run_prenorm_stream,
    run_warmup,
)
from .rank import run_rank_collapse
from .shattered import run_shattered
from .shortcuts import ShortcutConfig, ShortcutResult, run_shortcuts
from .stream import run_stream_growth

__all__ = [
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
    "run_warmup",
]
