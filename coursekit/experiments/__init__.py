"""The experiments of docs/science.md: configuration and seed in, plain numbers out.

One module per family; none prints or plots (``coursekit.plots`` draws their numbers).
"""

from .decoder import (
    CausalDecoder,
    DecoderConfig,
    DecoderResult,
    first_step_sizes,
    make_causal_task,
    run_decoder_ablation,
)
from .degradation import (
    DegradationConfig,
    DegradationResult,
    LiveSnapshot,
    grad_norms_at_init,
    run_degradation,
    skip_twins,
    train_twins_live,
)
from .densenet import DenseNet, DenseNetConfig, DenseNetResult, run_densenet, run_densenet_and_shortcuts
from .gpt import ARMS, Arm, GPTConfig, GPTResult, GPTRun, baseline_bits, run_gpt, train_gpt_live
from .gpt_model import GPT, BlockParts, GPTShape
from .initialisation import InitScalesConfig, InitScalesResult, run_init_scales
from .lesion import LesionConfig, LesionResult, run_lesion
from .models import BatchNormNet, TokenTransformer
from .norm_placement import (
    GradientProfileConfig,
    GradientProfileResult,
    ModelSetup,
    StreamConfig,
    StreamResult,
    Theorem1Config,
    Theorem1Result,
    run_gradient_profile,
    run_stream_norms,
    run_theorem1,
    sort_transformer,
)
from .norm_training import (
    SGD_WARMUP,
    DepthSweepConfig,
    DepthSweepResult,
    WarmupConfig,
    WarmupResult,
    run_depth_sweep,
    run_warmup,
)
from .normalisation import batch_dependence, layer_norm_bug_errors, scale_invariance, train_test_gap
from .preactivation import OrderConfig, OrderResult, run_block_orders
from .rank import RankCollapseConfig, RankCollapseResult, run_rank_collapse
from .residual_paths import (
    TrainingGradConfig,
    TrainingGradResult,
    block_jacobian_spectrum,
    distance_from_identity,
    input_gradient_by_depth,
    run_training_grad_norms,
)
from .shattered import ShatteredConfig, ShatteredResult, grid_gradients, run_shattered
from .shortcuts import ShortcutConfig, ShortcutResult, run_shortcuts
from .stream import StreamGrowthConfig, StreamGrowthResult, run_stream_growth

__all__ = [
    "ARMS",
    "Arm",
    "BlockParts",
    "GPT",
    "GPTConfig",
    "GPTResult",
    "GPTRun",
    "GPTShape",
    "baseline_bits",
    "run_gpt",
    "train_gpt_live",
    "CausalDecoder",
    "DecoderConfig",
    "DecoderResult",
    "make_causal_task",
    "run_decoder_ablation",
    "first_step_sizes",
    "TrainingGradConfig",
    "TrainingGradResult",
    "batch_dependence",
    "block_jacobian_spectrum",
    "distance_from_identity",
    "input_gradient_by_depth",
    "layer_norm_bug_errors",
    "run_training_grad_norms",
    "train_test_gap",
    "scale_invariance",
    "BatchNormNet",
    "DegradationConfig",
    "DegradationResult",
    "DepthSweepConfig",
    "DepthSweepResult",
    "SGD_WARMUP",
    "GradientProfileConfig",
    "GradientProfileResult",
    "ModelSetup",
    "StreamConfig",
    "StreamResult",
    "Theorem1Config",
    "Theorem1Result",
    "LesionConfig",
    "LesionResult",
    "TokenTransformer",
    "ShortcutConfig",
    "ShortcutResult",
    "WarmupConfig",
    "WarmupResult",
    "grad_norms_at_init",
    "run_degradation",
    "LiveSnapshot",
    "skip_twins",
    "train_twins_live",
    "run_depth_sweep",
    "run_gradient_profile",
    "run_lesion",
    "run_stream_norms",
    "run_theorem1",
    "sort_transformer",
    "run_rank_collapse",
    "OrderConfig",
    "OrderResult",
    "run_block_orders",
    "RankCollapseConfig",
    "RankCollapseResult",
    "run_shattered",
    "grid_gradients",
    "InitScalesConfig",
    "InitScalesResult",
    "run_init_scales",
    "ShatteredConfig",
    "ShatteredResult",
    "run_shortcuts",
    "run_stream_growth",
    "DenseNet",
    "DenseNetConfig",
    "DenseNetResult",
    "StreamGrowthConfig",
    "StreamGrowthResult",
    "run_densenet",
    "run_densenet_and_shortcuts",
    "run_warmup",
]
