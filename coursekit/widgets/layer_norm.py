"""Lesson 2: the error of the copied LayerNorm bug, by width and input scale; BatchNorm's batch."""

from __future__ import annotations

from functools import lru_cache

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..experiments import batch_dependence, layer_norm_bug_errors
from ..experiments.normalisation import layer_norm_bug_curves
from ..plots import plot_batch_dependence, plot_layer_norm_bug
from .explorer import Explorer

SCALES = tuple(10.0 ** (k / 4) for k in range(-16, 9))  # input scales 1e-4 .. 1e2


ENTRIES = 65536  # entries (examples x features) an error is measured over, at widths past 256


def _examples(d: int) -> int:
    """Examples per measured error: the experiment's 256 up to d = 256, then fewer, so that a
    move of the width slider costs the same at d = 1024 as at 256 (64 examples of 1024 features
    still average 65,536 entries; an error moves by 3 % of itself at most, where the copied
    version's two bugs nearly cancel, tests/test_lesson_layer_norm.py)."""
    return min(256, max(16, ENTRIES // d))


@lru_cache(maxsize=64)
def _bug_curves(d: int, eps: float) -> dict[str, list[float]]:
    """Each bug's error at every scale of :data:`SCALES` (their inputs drawn once)."""
    return layer_norm_bug_curves(d, SCALES, eps, n_examples=_examples(d))


def layer_norm_bug_view(d: int = 64, log10_eps: float = -5.0, log10_scale: float = 0.0) -> tuple[str, Figure]:
    """Relative error (%) of each LayerNorm bug against ``torch.nn.LayerNorm`` for inputs of
    ``d`` features and standard deviation ``10**log10_scale``, with ``eps = 10**log10_eps``."""
    eps, scale = 10.0**log10_eps, 10.0**log10_scale
    curves = _bug_curves(d, eps)
    figure = plot_layer_norm_bug(SCALES, curves, scale, f"d = {d}, eps = {eps:.0e}")
    if scale in SCALES:  # a point of the curves (the slider's quarter steps are)
        here = {name: errors[SCALES.index(scale)] for name, errors in curves.items()}
    else:
        here = layer_norm_bug_errors(d, scale, eps, n_examples=_examples(d))  # the curves' examples
    parts = [f"{name}: {error:.2g} %" for name, error in here.items()]
    return f"d {d}, eps {eps:.0e}, input std {scale:.2g} | " + " | ".join(parts), figure


def layer_norm_bug_explorer(d: int = 64, log10_eps: float = -5.0, log10_scale: float = 0.0) -> Explorer:
    """Sliders for the width ``d``, log10 eps and log10 of the input's scale."""
    return Explorer(
        layer_norm_bug_view,
        d=widgets.IntSlider(value=d, min=2, max=1024, description="d", continuous_update=False),
        log10_eps=widgets.FloatSlider(
            value=log10_eps, min=-8, max=-2, step=1, description="log10 eps", continuous_update=False
        ),
        log10_scale=widgets.FloatSlider(
            value=log10_scale, min=-4, max=2, step=0.25, description="log10 std", continuous_update=False
        ),
    )


BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128, 256)


@lru_cache(maxsize=16)
def _batch_curves(d: int) -> dict[str, list[float]]:
    return batch_dependence(BATCH_SIZES, d)


def batch_dependence_view(d: int = 64) -> tuple[str, Figure]:
    """How much one example's normalised output moves when its batch-mates change, by batch size."""
    curves = _batch_curves(d)
    figure = plot_batch_dependence(list(BATCH_SIZES), curves, d)
    parts = [
        f"{name}: {values[0]:.2g} at batch 2, {values[-1]:.2g} at {BATCH_SIZES[-1]}"
        for name, values in curves.items()
    ]
    return " | ".join(parts), figure


def batch_dependence_explorer(d: int = 64) -> Explorer:
    """A width slider over :func:`batch_dependence_view`."""
    return Explorer(
        batch_dependence_view,
        d=widgets.IntSlider(value=d, min=2, max=512, description="d", continuous_update=False),
    )
