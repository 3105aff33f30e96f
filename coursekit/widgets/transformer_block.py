"""Lesson 4: the decoder ablation's loss curves, one variant against the full block."""

from __future__ import annotations

from functools import lru_cache, partial

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..experiments import DecoderConfig, DecoderResult, run_decoder_ablation
from ..plots import plot_decoder_ablation
from .explorer import Explorer

REFERENCE = "residual+norm"


@lru_cache(maxsize=4)
def decoder_ablation(config: DecoderConfig | None = None) -> DecoderResult:
    """:func:`~coursekit.experiments.run_decoder_ablation` of ``config`` (default: the default
    config), run once and kept (several seconds on 2 cores; a bar shows its progress)."""
    return run_decoder_ablation(DecoderConfig() if config is None else config)


def decoder_summary(result: DecoderResult, variant: str) -> str:
    """Steps to the target and final loss of ``variant``, over seeds."""
    return (
        f"{variant}: steps to loss {result.config.target_loss:g}: {result.steps_range(variant)} | "
        f"final loss {result.final_text(variant)} over seeds {list(result.config.seeds)}"
    )


def decoder_view(variant: str = "no residuals", result: DecoderResult | None = None) -> tuple[str, Figure]:
    """Loss curves (every seed) of ``variant`` against the full block (residual + norm around
    each sublayer), from ``result`` or the cached default run."""
    result = decoder_ablation() if result is None else result
    if variant not in result.loss_curves:
        raise ValueError(f"variant must be one of {list(result.loss_curves)}, got {variant!r}")
    names = [REFERENCE, variant] if variant != REFERENCE and REFERENCE in result.loss_curves else [variant]
    return decoder_summary(result, variant), plot_decoder_ablation(result, names)


def decoder_explorer(result: DecoderResult | None = None, variant: str = "no residuals") -> Explorer:
    """A variant chooser over :func:`decoder_view`, drawn from ``result`` (already trained: each
    change only redraws)."""
    result = decoder_ablation() if result is None else result
    chooser = widgets.Dropdown(options=list(result.loss_curves), value=variant, description="variant")
    return Explorer(partial(decoder_view, result=result), variant=chooser)
