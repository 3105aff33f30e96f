"""Lesson 6: the per-layer gradient profile at init under the paper's conditions and without them.
Lesson 6b: the training curves behind the depth sweep, by depth and seed."""

from __future__ import annotations

import functools
import math

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..experiments import (
    DepthSweepResult,
    GradientProfileConfig,
    GradientProfileResult,
    ModelSetup,
    run_gradient_profile,
)
from ..plots import plot_gradient_profile, plot_loss_curves
from .explorer import Explorer

ACTIVATION_OPTIONS = (("ReLU (the paper)", "relu"), ("GELU", "gelu"))
INIT_OPTIONS = (("Xavier, zero biases (the paper)", "xavier"), ("PyTorch default", "default"))


_PROFILES: dict[tuple[str, str], GradientProfileResult] = {}
# sequences in the one batch each network is probed with: 32 (GradientProfileConfig's default,
# lesson 7's recap) gave the same picture at 8 seeds (means 1.28 / 1.49 / 1.05 / 1.02 against
# 1.24 / 1.48 / 1.02 / 1.00 here; single seeds 0.57-3.14 against 0.57-3.12) at 1.4x the time
PROFILE_BATCH = 16


def gradient_profile_for(
    activation: str = "relu", init: str = "xavier", progress_bar: bool = True
) -> GradientProfileResult:
    """The lesson's gradient profile (depth 24, 8 seeds, one batch of :data:`PROFILE_BATCH`
    sequences) for one activation and init, computed once per setting (its 16 networks probed on
    both cores, with a progress bar) and then kept, so the widget answers at once for every
    setting the lesson has already computed (benchmarks/widgets.py times the redraws)."""
    key = (activation, init)
    if key not in _PROFILES:
        setup = ModelSetup(activation=activation, init=init)
        config = GradientProfileConfig(setup=setup, batch_size=PROFILE_BATCH)
        _PROFILES[key] = run_gradient_profile(config, progress_bar=progress_bar)
    return _PROFILES[key]


def gradient_profile_summary(result: GradientProfileResult) -> str:
    """One line: last-quarter over first-quarter gradient for each placement, mean profile and
    the range over seeds (> 1 means the gradient grows toward the output)."""
    parts = []
    for norm in result.grad:
        per_seed = result.slope(norm)
        parts.append(
            f"{norm}-norm last/first quarter {result.mean_slope(norm):.2f} "
            f"(seeds {min(per_seed):.2f}–{max(per_seed):.2f})"
        )
    setup = result.config.setup
    return f"{setup.activation.upper()}, {setup.init} init | " + " | ".join(parts)


def gradient_profile_view(activation: str = "relu", init: str = "xavier") -> tuple[str, Figure]:
    """What the profile widget shows for one activation and init: the summary and the figure."""
    result = gradient_profile_for(activation, init)
    return gradient_profile_summary(result), plot_gradient_profile(result)


def gradient_profile_explorer(activation: str = "relu", init: str = "xavier") -> Explorer:
    """Toggles for the MLP's activation and the init over :func:`gradient_profile_view`."""
    return Explorer(
        gradient_profile_view,
        activation=widgets.ToggleButtons(
            options=ACTIVATION_OPTIONS, value=activation, description="activation"
        ),
        init=widgets.ToggleButtons(options=INIT_OPTIONS, value=init, description="init"),
    )


def depth_sweep_view(depth: int, seed: int, sweep: DepthSweepResult) -> tuple[str, Figure]:
    """The training curves of post- and pre-norm at one ``depth`` and ``seed`` of a depth sweep
    already run, and a summary with both placements' held-out and final training loss."""
    depths, seeds = sweep.config.depths, sweep.config.seeds
    if depth not in depths:
        raise ValueError(f"depth must be one of {depths}, got {depth!r}")
    if seed not in seeds:
        raise ValueError(f"seed must be one of {seeds}, got {seed!r}")
    i, s = depths.index(depth), seeds.index(seed)
    curves = {f"{norm}-norm": sweep.loss_curves[norm][i][s] for norm in ("post", "pre")}
    steps = sweep.config.steps[i]
    figure = plot_loss_curves(curves, f"{depth} layers, seed {seed}, {steps} steps", chance=math.log(10))
    held_out = {norm: sweep.test_loss[norm][i][s] for norm in ("post", "pre")}
    parts = [
        f"{norm}-norm diverged"
        if math.isnan(loss)
        else f"{norm}-norm {loss:.2f} (training {sweep.train_loss[norm][i][s]:.2f})"
        for norm, loss in held_out.items()
    ]
    finite = {norm: loss for norm, loss in held_out.items() if not math.isnan(loss)}
    verdict = f"{min(finite, key=finite.get)}-norm lower" if len(finite) == 2 else "no comparison"
    summary = f"{depth} layers, seed {seed} | held-out loss: " + ", ".join(parts) + f" | {verdict}"
    return summary, figure


def depth_sweep_explorer(sweep: DepthSweepResult) -> Explorer:
    """A depth menu and a seed menu over :func:`depth_sweep_view`, on a sweep already run."""
    depth = widgets.Dropdown(options=list(sweep.config.depths), description="layers")
    seed = widgets.Dropdown(options=list(sweep.config.seeds), description="seed")
    return Explorer(functools.partial(depth_sweep_view, sweep=sweep), depth=depth, seed=seed)
