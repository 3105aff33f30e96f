"""Widgets: thin layers that call an experiment and draw its numbers; no logic of their own.

Every widget is an :class:`Explorer` over a public *view function* ``view(**values) ->
(summary, figure)``, so pytest calls exactly what a slider calls. One module per lesson.
"""

from .explorer import Explorer
from .gpt import gpt_findings, heldout_table, sample_explorer, sample_view, train_your_gpt  # lesson 8
from .gradient_flow import gradient_flow_explorer, gradient_flow_summary, gradient_flow_view
from .layer_norm import (
    batch_dependence_explorer,
    batch_dependence_view,
    layer_norm_bug_explorer,
    layer_norm_bug_view,
)
from .mlp import rank_collapse_explorer, rank_collapse_view
from .norm_placement import (  # lessons 6 and 6b
    depth_sweep_explorer,
    depth_sweep_view,
    gradient_profile_explorer,
    gradient_profile_for,
    gradient_profile_view,
)
from .residual import (
    residual_gradients_explorer,
    residual_gradients_view,
    stream_growth_explorer,
    stream_growth_view,
)
from .shattered import shattered_explorer, shattered_view  # lesson 1
from .shortcuts import (  # lessons 7 and 7b
    block_order_explorer,
    block_order_view,
    gate_carry_explorer,
    gate_carry_view,
    shortcut_explorer,
    shortcut_view,
)
from .skip import (  # lesson 5
    LiveExplorer,
    skip_training_explorer,
    skip_training_stream,
    skip_training_summary,
    skip_training_view,
)
from .transformer_block import decoder_ablation, decoder_explorer, decoder_view

__all__ = [
    "gpt_findings",
    "heldout_table",
    "sample_explorer",
    "sample_view",
    "train_your_gpt",
    "decoder_ablation",
    "decoder_explorer",
    "decoder_view",
    "rank_collapse_explorer",
    "rank_collapse_view",
    "depth_sweep_explorer",
    "depth_sweep_view",
    "block_order_explorer",
    "block_order_view",
    "gate_carry_explorer",
    "gate_carry_view",
    "shortcut_explorer",
    "shortcut_view",
    "batch_dependence_explorer",
    "batch_dependence_view",
    "layer_norm_bug_explorer",
    "layer_norm_bug_view",
    "gradient_profile_explorer",
    "gradient_profile_for",
    "gradient_profile_view",
    "residual_gradients_explorer",
    "residual_gradients_view",
    "stream_growth_explorer",
    "stream_growth_view",
    "shattered_explorer",
    "shattered_view",
    "Explorer",
    "LiveExplorer",
    "skip_training_explorer",
    "skip_training_stream",
    "skip_training_summary",
    "skip_training_view",
    "gradient_flow_explorer",
    "gradient_flow_summary",
    "gradient_flow_view",
]
