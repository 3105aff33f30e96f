"""Lessons 6 and 6b's widgets: the view functions a control calls, at their defaults and with each switch."""

import dataclasses
import math
import time

import pytest
from matplotlib.figure import Figure

from coursekit.widgets import gradient_profile_explorer, gradient_profile_for, gradient_profile_view


def test_profile_view_answers_from_the_cache_and_the_switches_change_it():
    summary, figure = gradient_profile_view()  # computes the default setting once
    assert isinstance(figure, Figure) and "RELU, xavier init" in summary
    assert "post-norm last/first quarter" in summary and "pre-norm" in summary
    start = time.perf_counter()
    again, _ = gradient_profile_view()
    assert again == summary and time.perf_counter() - start < 5  # cached: a redraw, not a rerun
    other, _ = gradient_profile_view(activation="gelu", init="default")
    assert other != summary and "GELU, default init" in other
    paper, default = gradient_profile_for("relu", "xavier"), gradient_profile_for("gelu", "default")
    assert paper.mean_slope("post") > default.mean_slope("post")  # the slope follows the switches


def test_profile_explorer_has_both_switches():
    explorer = gradient_profile_explorer()
    assert set(explorer.controls) == {"activation", "init"}
    assert explorer.values() == {"activation": "relu", "init": "xavier"}
    explorer.controls["init"].value = "default"
    assert "default init" in explorer.summary


def test_depth_sweep_view_shows_the_runs_of_the_sweep_it_is_given():
    from coursekit import experiments
    from coursekit.widgets import depth_sweep_explorer, depth_sweep_view

    config = experiments.DepthSweepConfig(depths=(2, 4), steps=(6, 4), seeds=(0, 1))
    sweep = experiments.run_depth_sweep(config, progress_bar=False)
    for norm in ("post", "pre"):  # one curve per run, as long as its steps, ending where it ended
        for i, steps in enumerate(config.steps):
            assert [len(curve) for curve in sweep.loss_curves[norm][i]] == [steps, steps]
    summary, figure = depth_sweep_view(4, 1, sweep)
    assert isinstance(figure, Figure) and summary.startswith("4 layers, seed 1")
    post, pre = sweep.test_loss["post"][1][1], sweep.test_loss["pre"][1][1]
    assert f"post-norm {post:.2f}" in summary and f"pre-norm {pre:.2f}" in summary
    assert summary.endswith(f"{'post' if post < pre else 'pre'}-norm lower")
    diverged = dataclasses.replace(sweep, test_loss={**sweep.test_loss, "pre": [[math.nan] * 2] * 2})
    summary, _ = depth_sweep_view(2, 0, diverged)  # a run that diverged is said so, and ranks nothing
    assert "pre-norm diverged" in summary and summary.endswith("| no comparison")
    for bad in ({"depth": 12, "seed": 0}, {"depth": 4, "seed": 5}):
        with pytest.raises(ValueError, match="must be one of"):
            depth_sweep_view(sweep=sweep, **bad)
    explorer = depth_sweep_explorer(sweep)
    first = explorer.summary
    explorer.controls["seed"].value = 1
    assert explorer.summary != first and explorer.summary.startswith("2 layers, seed 1")
