"""Lesson 1: shattered gradients (Balduzzi et al. 2017), plain against residual, by depth."""

from __future__ import annotations

import functools

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..experiments.models import SKIP_ARMS
from ..experiments.shattered import ShatteredResult
from ..measures import lag1_autocorrelation
from ..plots import plot_grid_gradients
from .explorer import Explorer


def shattered_view(depth: int, seed: int, result: ShatteredResult) -> tuple[str, Figure]:
    """∂f/∂x over the grid for the plain and the residual net of ``seed`` cut after ``depth``
    blocks, at init, from runs already made (``result``), and the lag-1 autocorrelation of each
    curve (1: smooth; 0: noise)."""
    deepest, seeds = max(result.config.depths), result.config.seeds
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= deepest:
        raise ValueError(f"depth must be an int from 1 to {deepest}, got {depth!r}")
    if seed not in seeds:
        raise ValueError(f"seed must be one of {seeds}, got {seed!r}")
    i = seeds.index(seed)
    curves, parts = {}, []
    for arm in SKIP_ARMS:
        curve = result.gradients[arm][i, depth - 1]  # (n_points,)
        rho = lag1_autocorrelation(curve)
        curves[f"{arm}: neighbour correlation {rho:.2f}"] = curve.tolist()
        parts.append(f"{arm}: {rho:.2f}")
    title = f"∂f/∂x over the inputs, {depth} blocks, at init, seed {seed}"
    figure = plot_grid_gradients(result.grid, curves, title=title)
    return f"depth {depth} | seed {seed} | lag-1 autocorrelation of ∂f/∂x | " + " | ".join(parts), figure


def shattered_explorer(result: ShatteredResult, depth: int = 24) -> Explorer:
    """A depth slider and a seed menu over :func:`shattered_view`, on the nets of ``result``."""
    slider = widgets.IntSlider(
        value=depth,
        min=1,
        max=max(result.config.depths),
        step=1,
        description="depth",
        continuous_update=False,
    )
    seed = widgets.Dropdown(options=list(result.config.seeds), description="seed")
    return Explorer(functools.partial(shattered_view, result=result), depth=slider, seed=seed)
