"""Lesson 1: shattered gradients (Balduzzi et al. 2017), plain against residual, by depth."""

from __future__ import annotations

from functools import lru_cache

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from ..experiments.shattered import prefix_gradients
from ..plots import plot_grid_gradients
from ..probes import gradient_autocorrelation
from .explorer import Explorer

MAX_DEPTH = 50


@lru_cache(maxsize=8)
def _curves(residual: bool, seed: int) -> tuple[list[float], list[list[float]]]:
    """``∂f_d/∂x`` for every depth ``d`` up to :data:`MAX_DEPTH`: the first ``d`` blocks of one
    net (about 0.1 s once, in one forward-mode pass), so every move of the slider is a lookup."""
    return prefix_gradients(MAX_DEPTH, residual, seed=seed)


@lru_cache(maxsize=256)
def _correlation(depth: int, residual: bool, seed: int) -> float:
    """The probe's lag-1 autocorrelation of the curve: ``x ↦ g·x`` has derivative ``g``."""
    xs, curves = _curves(residual, seed)
    g = torch.tensor(curves[depth - 1]).unsqueeze(1)  # (n_points, 1)
    return gradient_autocorrelation(lambda t: t * g, torch.tensor(xs).unsqueeze(1))


def shattered_view(depth: int = 24, seed: int = 0) -> tuple[str, Figure]:
    """∂f/∂x over 256 inputs on [-2, 2] for the plain and the residual scalar net cut after
    ``depth`` blocks, at init, and the lag-1 autocorrelation of each curve (1: smooth; 0: noise)."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be an int from 1 to {MAX_DEPTH}, got {depth!r}")
    curves, parts = {}, []
    for arm, residual in (("plain", False), ("residual", True)):
        xs, by_depth = _curves(residual, seed)
        rho = _correlation(depth, residual, seed)
        curves[f"{arm}: neighbour correlation {rho:.2f}"] = by_depth[depth - 1]
        parts.append(f"{arm}: {rho:.2f}")
    figure = plot_grid_gradients(xs, curves, title=f"∂f/∂x over the inputs, {depth} blocks, at init")
    return f"depth {depth} | lag-1 autocorrelation of ∂f/∂x | " + " | ".join(parts), figure


def shattered_explorer(depth: int = 24) -> Explorer:
    """A depth slider over :func:`shattered_view`."""
    slider = widgets.IntSlider(
        value=depth, min=1, max=MAX_DEPTH, step=1, description="depth", continuous_update=False
    )
    return Explorer(shattered_view, depth=slider)
