"""Start here: gradient norm by block at initialisation, plain against residual, by depth."""

from __future__ import annotations

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..experiments import grad_norms_at_init
from ..plots import plot_by_layer
from .explorer import Explorer


def gradient_flow_summary(norms: dict[str, list[float]]) -> str:
    """One line comparing the first block's gradient norm with the last's, per variant."""
    parts = [f"{arm}: first/last = {values[0] / values[-1]:.2g}" for arm, values in norms.items()]
    return f"depth {len(next(iter(norms.values())))} | " + " | ".join(parts)


def gradient_flow_view(depth: int, seed: int = 0) -> tuple[str, Figure]:
    """What the gradient-flow widget shows for ``depth``: the summary line and the figure."""
    norms = grad_norms_at_init(depth, seed=seed)
    figure = plot_by_layer(
        norms,
        ylabel="gradient norm of the block",
        title=f"Gradient norm by block at initialisation, {depth} blocks",
        log=True,
    )
    return gradient_flow_summary(norms), figure


def gradient_flow_explorer(depth: int = 32, max_depth: int = 52) -> Explorer:
    """A depth slider over :func:`gradient_flow_view`: plain and residual stacks side by side."""
    slider = widgets.IntSlider(
        value=depth, min=2, max=max_depth, step=1, description="depth", continuous_update=False
    )
    return Explorer(gradient_flow_view, depth=slider)
