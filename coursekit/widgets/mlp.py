"""Lesson 3: rank collapse of stacked attention, with skips and MLPs switched on and off."""

from __future__ import annotations

from functools import lru_cache

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..experiments import RankCollapseConfig, run_rank_collapse
from ..plots import plot_rank_collapse
from .explorer import Explorer

MAX_DEPTH = 24


@lru_cache(maxsize=8)
def _ranks(seed: int) -> dict[str, list[float]]:
    """Every variant at ``MAX_DEPTH`` (about 0.5 s once): a shallower stack built from the same
    seed holds the same first layers, so its curve is a prefix of these."""
    return run_rank_collapse(RankCollapseConfig(depth=MAX_DEPTH, seeds=(seed,))).curves(0)


def variant_name(residual: bool, mlp: bool) -> str:
    """The name :func:`~coursekit.experiments.run_rank_collapse` gives a (residual, MLP) choice."""
    return "attention" + ("+MLP" if mlp else "") + ("+skip" if residual else "")


def rank_collapse_view(
    depth: int = 12, residual: bool = False, mlp: bool = False, seed: int = 0
) -> tuple[str, Figure]:
    """‖X − 1x̄ᵀ‖/‖X‖ after each of ``depth`` layers for the chosen stack, with attention alone
    drawn for comparison. 0 means every token holds the same vector."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be an int from 1 to {MAX_DEPTH}, got {depth!r}")
    ranks = _ranks(seed)
    name = variant_name(residual, mlp)
    series = {name: ranks[name][: depth + 1]}
    if name != "attention":
        series["attention (no skip, no MLP)"] = ranks["attention"][: depth + 1]
    figure = plot_rank_collapse(series)
    value = ranks[name][depth]
    return f"{name}, depth {depth}: distance from rank one {value:.2g} (input {ranks[name][0]:.2g})", figure


def rank_collapse_explorer(depth: int = 12, residual: bool = False, mlp: bool = False) -> Explorer:
    """A depth slider and residual / MLP switches over :func:`rank_collapse_view`."""
    return Explorer(
        rank_collapse_view,
        depth=widgets.IntSlider(
            value=depth, min=1, max=MAX_DEPTH, step=1, description="depth", continuous_update=False
        ),
        residual=widgets.Checkbox(value=residual, description="residual (x + ...)"),
        mlp=widgets.Checkbox(value=mlp, description="MLP after attention"),
    )
