"""Lesson 1: gradient norm by block during the first SGD steps, and the un-normalised stream."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..experiments import (
    StreamGrowthConfig,
    TrainingGradConfig,
    TrainingGradResult,
    run_stream_growth,
    run_training_grad_norms,
)
from ..plots import plot_by_layer, plot_stream_growth
from .explorer import Explorer

TRAINING_STEPS = (0, 1, 10)


_NORMS: dict[tuple[int, int], dict[str, list[list[float]]]] = {}  # (depth, seed) -> the runs' norms


def _remember(result: TrainingGradResult) -> None:
    """Keep ``result``'s norms for the view, one entry per seed, if it logged the first of the
    view's steps (a run stopped early logs the same numbers as the whole run, up to its end)."""
    steps = result.config.steps
    if steps != TRAINING_STEPS[: len(steps)]:
        return
    for i, seed in enumerate(result.config.seeds):
        key = result.config.depth, seed
        if len(steps) >= _logged(_NORMS.get(key, {})):
            _NORMS[key] = {arm: runs[i] for arm, runs in result.grad_norms.items()}


def _logged(norms: dict[str, list[list[float]]]) -> int:
    """How many of the view's steps ``norms`` holds (0 for none)."""
    return min((len(runs) for runs in norms.values()), default=0)


def _trained(depth: int, seed: int, step: int) -> bool:
    """Whether ``depth`` and ``seed`` have been trained as far as ``step``."""
    return _logged(_NORMS.get((depth, seed), {})) > TRAINING_STEPS.index(step)


def _training_norms(
    depth: int, seed: int, step: int, progress_bar: bool = False
) -> dict[str, list[list[float]]]:
    """``{arm: [norms at step 0, 1, ...]}`` for one depth and seed, up to ``step`` at least:
    step 0 needs no training (one gradient per net, about 0.07 s at depth 64), step 10 trains
    10 steps (about 0.4 s at depth 64), so a new depth is trained only as far as it is shown."""
    if not _trained(depth, seed, step):
        config = TrainingGradConfig(
            depth=depth, steps=TRAINING_STEPS[: TRAINING_STEPS.index(step) + 1], seeds=(seed,)
        )
        _remember(run_training_grad_norms(config, progress_bar=progress_bar))
    return _NORMS[depth, seed]


def residual_gradients_view(depth: int = 52, step: int = 0, seed: int = 0) -> tuple[str, Figure]:
    """Gradient norm of every block of the plain and residual BatchNorm nets after ``step`` SGD
    steps (0, 1 or 10; lr 0.05), with step 0 drawn dashed for comparison."""
    if step not in TRAINING_STEPS:
        raise ValueError(f"step must be one of {TRAINING_STEPS}, got {step!r}")
    norms = _training_norms(depth, seed, step)
    i = TRAINING_STEPS.index(step)
    series = {f"{arm}, step {step}": runs[i] for arm, runs in norms.items()}
    if step:
        series.update({f"{arm}, step 0": runs[0] for arm, runs in norms.items()})
    figure = plot_by_layer(
        series,
        ylabel="gradient norm of the block",
        title=f"Gradient norm by block, {depth} blocks, after {step} SGD step{'s' * (step != 1)}",
        log=True,
    )
    parts = [f"{arm}: first/last = {runs[i][0] / runs[i][-1]:.2g}" for arm, runs in norms.items()]
    return f"depth {depth}, step {step} | " + " | ".join(parts), figure


def residual_gradients_preview(depth: int = 52, step: int = 10, seed: int = 0) -> tuple[str, Figure]:
    """What the widget draws at once for a depth not yet trained to ``step``: the gradient at
    initialisation (no training), labelled as such, while the ``step`` SGD steps run."""
    norms = _training_norms(depth, seed, 0)
    figure = plot_by_layer(
        {f"{kind}, step 0": runs[0] for kind, runs in norms.items()},
        ylabel="gradient norm of the block",
        title=f"Gradient norm by block, {depth} blocks, at step 0 (training {step} SGD steps...)",
        log=True,
    )
    parts = [f"{kind}: first/last = {runs[0][0] / runs[0][-1]:.2g}" for kind, runs in norms.items()]
    return f"depth {depth}, step 0 (training {step} steps...) | " + " | ".join(parts), figure


class TrainingGradientsExplorer(Explorer):
    """An :class:`Explorer` over :func:`residual_gradients_view` that, for a depth not yet
    trained as far as the step shown, first draws its gradient at initialisation (at once), then
    trains under a progress bar."""

    trains = True

    def frames(self, depth: int, step: int, seed: int = 0) -> Iterator[tuple[str, Figure]]:
        if step and not _trained(depth, seed, step):
            yield residual_gradients_preview(depth, step, seed)
            with self.bar_output:
                _training_norms(depth, seed, step, progress_bar=True)
            self.bar_output.clear_output()  # the run has ended: its bar goes
        yield residual_gradients_view(depth, step, seed)


def residual_gradients_explorer(
    depth: int = 52, step: int = 0, max_depth: int = 64, runs: Iterable[TrainingGradResult] = ()
) -> Explorer:
    """A depth slider and a training-step switch (0 / 1 / 10) over :func:`residual_gradients_view`;
    ``runs`` the lesson already made (steps 0, 1, 10) are drawn from instead of trained again."""
    for result in runs:
        if not isinstance(result, TrainingGradResult):
            raise TypeError(f"runs must be TrainingGradResults, got {type(result).__name__}")
        _remember(result)
    depth_slider = widgets.IntSlider(
        value=depth, min=2, max=max_depth, step=1, description="depth", continuous_update=False
    )
    step_buttons = widgets.ToggleButtons(options=list(TRAINING_STEPS), value=step, description="SGD step")
    return TrainingGradientsExplorer(residual_gradients_view, depth=depth_slider, step=step_buttons)


@lru_cache(maxsize=64)
def _stream(depth: int, seed: int) -> dict[str, list[float]]:
    return run_stream_growth(StreamGrowthConfig(depth=depth, seeds=(seed,))).curves(0)


def stream_growth_view(depth: int = 50, seed: int = 0) -> tuple[str, Figure]:
    """RMS of an un-normalised residual stream after every block: identity, 1/√L, ReZero."""
    rms = _stream(depth, seed)
    figure = plot_stream_growth(rms)
    parts = [f"{name}: {values[-1]:.2g}" for name, values in rms.items()]
    return f"depth {depth} | stream RMS after the last block | " + " | ".join(parts), figure


def stream_growth_explorer(depth: int = 50, max_depth: int = 100) -> Explorer:
    """A depth slider over :func:`stream_growth_view`."""
    slider = widgets.IntSlider(
        value=depth, min=1, max=max_depth, step=1, description="depth", continuous_update=False
    )
    return Explorer(stream_growth_view, depth=slider)
