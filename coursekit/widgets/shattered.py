"""Lesson 1: shattered gradients (Balduzzi et al. 2017), plain against residual, by depth."""

from __future__ import annotations

from functools import lru_cache

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..experiments.shattered import grid_gradients
from ..plots import plot_grid_gradients
from .explorer import Explorer

MAX_DEPTH = 50


@lru_cache(maxsize=128)
def _gradients(depth: int, residual: bool, seed: int) -> tuple[list[float], list[float], float]:
    """``(xs, ∂f/∂x, autocorrelation)`` for one net (about 0.2 s at depth 50; kept once computed)."""
    return grid_gradients(depth, residual, seed=seed)


def shattered_view(depth: int = 24, seed: int = 0) -> tuple[str, Figure]:
    """∂f/∂x over 256 inputs on [-2, 2] for the plain and the residual scalar net of ``depth``
    blocks at init, and the lag-1 autocorrelation of each curve (1: smooth; 0: white noise)."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be an int from 1 to {MAX_DEPTH}, got {depth!r}")
    curves, parts = {}, []
    for kind, residual in (("plain", False), ("residual", True)):
        xs, grads, rho = _gradients(depth, residual, seed)
        curves[f"{kind}: neighbour correlation {rho:.2f}"] = grads
        parts.append(f"{kind}: {rho:.2f}")
    figure = plot_grid_gradients(xs, curves, title=f"∂f/∂x over the inputs, {depth} blocks, at init")
    return f"depth {depth} | lag-1 autocorrelation of ∂f/∂x | " + " | ".join(parts), figure


def shattered_explorer(depth: int = 24) -> Explorer:
    """A depth slider over :func:`shattered_view`."""
    slider = widgets.IntSlider(
        value=depth, min=1, max=MAX_DEPTH, step=1, description="depth", continuous_update=False
    )
    return Explorer(shattered_view, depth=slider)
