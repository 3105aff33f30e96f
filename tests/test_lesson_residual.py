"""Lesson 1's measurements and widgets: directions over several seeds, never one machine's numbers."""

from __future__ import annotations

import math

import pytest
from matplotlib.figure import Figure

from coursekit.experiments import (
    TrainingGradConfig,
    block_jacobian_spectrum,
    input_gradient_by_depth,
    run_training_grad_norms,
)
from coursekit.widgets import residual_gradients_view, stream_growth_view

SEEDS = (0, 1, 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_skip_lifts_every_singular_value_of_the_block_jacobian(seed: int) -> None:
    spectrum = block_jacobian_spectrum(d_model=32, seed=seed)
    assert len(spectrum["plain"]) == len(spectrum["residual"]) == 32
    assert spectrum["plain"][0] < 1.0  # the default-init ReLU branch shrinks every direction
    assert spectrum["plain"][-1] < 0.1 * spectrum["residual"][-1]
    assert 0.3 < spectrum["residual"][-1] <= spectrum["residual"][0] < 3.0  # I + dF/dx stays near 1


@pytest.mark.parametrize("seed", SEEDS)
def test_without_norms_plain_input_gradients_vanish_and_residual_ones_do_not(seed: int) -> None:
    depths = (1, 4, 16)
    grads = input_gradient_by_depth(depths, d_model=32, batch=64, seed=seed)
    plain, residual = grads["plain"], grads["residual"]
    assert plain[0] > plain[1] > plain[2] and plain[2] < 1e-6 * plain[0]
    assert all(0.3 < g < 10 for g in residual)


@pytest.fixture(scope="module")
def training_grads():
    return run_training_grad_norms(TrainingGradConfig(depth=24, steps=(0, 1, 10), seeds=SEEDS))


def test_plain_batchnorm_gradients_explode_toward_the_input_at_init(training_grads) -> None:
    for ratio in training_grads.ratios("plain", 0):
        assert ratio > 30  # a steady growth of about 1.2 per block over 23 blocks
        assert ratio ** (1 / 23) > 1.1
    for runs in training_grads.grad_norms["plain"]:
        norms = runs[0]
        assert norms[0] > norms[len(norms) // 2] > norms[-1]


def test_one_sgd_step_removes_most_of_the_explosion(training_grads) -> None:
    for at_init, after_one in zip(
        training_grads.ratios("plain", 0), training_grads.ratios("plain", 1), strict=True
    ):
        assert after_one < at_init / 2


def test_the_residual_ratio_stays_small_at_every_step(training_grads) -> None:
    for step in (0, 1, 10):
        plain, residual = training_grads.ratios("plain", 0), training_grads.ratios("residual", step)
        assert all(1 / 10 < r < 10 for r in residual)
        assert max(residual) < min(plain)


def test_training_grad_config_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="steps"):
        TrainingGradConfig(steps=(10, 1))
    with pytest.raises(TypeError, match="seeds"):
        TrainingGradConfig(seeds=())
    with pytest.raises(ValueError, match="steps"):
        TrainingGradConfig(steps=(-1, 1))
    with pytest.raises(TypeError, match="TrainingGradConfig"):
        run_training_grad_norms({"depth": 4})


def test_the_gradient_view_answers_for_each_step() -> None:
    ratios = {}
    for step in (0, 1, 10):
        summary, figure = residual_gradients_view(depth=20, step=step)
        assert isinstance(figure, Figure) and f"step {step}" in summary
        plain = summary.split("plain: first/last = ")[1].split(" ")[0]
        ratios[step] = float(plain)
    assert ratios[1] < ratios[0]
    with pytest.raises(ValueError, match="step"):
        residual_gradients_view(depth=20, step=5)


def test_the_stream_view_shows_identity_growth_and_both_fixes() -> None:
    summary, figure = stream_growth_view(depth=30)
    assert isinstance(figure, Figure)
    values = dict(part.split(": ") for part in summary.split(" | ")[2:])
    assert float(values["identity"]) > 1e3
    assert 1.0 < float(values["1/sqrt(L)"]) < 3.0
    assert math.isclose(float(values["rezero"]), 1.0, rel_tol=0.05)
