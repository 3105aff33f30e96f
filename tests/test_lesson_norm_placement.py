"""Lesson 6's widget: the view function a toggle calls, at its defaults and with each switch."""

import time

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
