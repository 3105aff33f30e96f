"""Lesson 1's measurements and widgets: directions over several seeds, never one machine's numbers."""

from __future__ import annotations

import math

import pytest
import torch
from matplotlib.figure import Figure

from coursekit.checks import check_answer
from coursekit.experiments import (
    InitScalesConfig,
    TrainingGradConfig,
    block_jacobian_spectrum,
    distance_from_identity,
    grid_gradients,
    input_gradient_by_depth,
    run_init_scales,
    run_shattered,
    run_training_grad_norms,
)
from coursekit.experiments.shattered import ShatteredConfig, ShatteredResult
from coursekit.measures import lag1_autocorrelation
from coursekit.plots import plot_init_scales
from coursekit.widgets import residual_gradients_view, shattered_explorer, shattered_view, stream_growth_view

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


def test_the_gradient_view_trains_a_new_depth_only_as_far_as_it_shows() -> None:
    """At a new depth, step 0 needs no training and step 1 one step; what they draw must be the
    numbers of the whole run (steps 0, 1, 10) the lesson makes, to the last bit."""
    from coursekit.experiments import TrainingGradConfig, run_training_grad_norms
    from coursekit.widgets import residual

    depth = 7
    residual._NORMS.pop((depth, 0), None)
    shown = {}
    for step in (0, 1, 10):
        shown[step] = residual_gradients_view(depth=depth, step=step)[0]
        assert residual._logged(residual._NORMS[depth, 0]) == (0, 1, 10).index(step) + 1
    whole = run_training_grad_norms(TrainingGradConfig(depth=depth, seeds=(0,)), progress_bar=False)
    assert residual._NORMS[depth, 0] == {kind: runs[0] for kind, runs in whole.grad_norms.items()}
    residual._NORMS.pop((depth, 0))
    residual.residual_gradients_explorer(depth=depth, runs=[whole])  # the lesson's runs, drawn from
    assert residual_gradients_view(depth=depth, step=0)[0] == shown[0]
    assert residual._logged(residual._NORMS[depth, 0]) == 3


def test_a_depth_not_yet_trained_is_drawn_at_init_first(monkeypatch) -> None:
    """Moved to a depth not yet trained to the step shown, the widget first draws the gradient
    at initialisation (labelled so), then trains under a progress bar (in its own output between
    the controls and the picture) and draws the trained view; a depth trained already, at once."""
    from coursekit.widgets import residual

    explorer = residual.residual_gradients_explorer(depth=6, step=0)
    assert explorer.children[1] is explorer.bar_output and explorer.children[2] is explorer.output
    bars = []
    train = residual.run_training_grad_norms

    def recorded(config, progress_bar=True):
        bars.append((max(config.steps), progress_bar))
        return train(config, progress_bar=False)

    monkeypatch.setattr(residual, "run_training_grad_norms", recorded)
    residual._NORMS.pop((9, 0), None)
    frames = list(explorer.frames(depth=9, step=10))
    assert bars == [(0, False), (10, True)]  # the picture at init at once; the training under a bar
    assert [summary.split(" | ")[0] for summary, _ in frames] == [
        "depth 9, step 0 (training 10 steps...)",
        "depth 9, step 10",
    ]
    assert "at step 0" in frames[0][1].axes[0].get_title()
    assert [s for s, _ in explorer.frames(depth=9, step=1)] == [residual_gradients_view(depth=9, step=1)[0]]
    explorer.controls["depth"].value = 9
    assert explorer.summary == residual_gradients_view(depth=9, step=0)[0]


def test_the_stream_view_shows_identity_growth_and_both_fixes() -> None:
    summary, figure = stream_growth_view(depth=30)
    assert isinstance(figure, Figure)
    values = dict(part.split(": ") for part in summary.split(" | ")[2:])
    assert float(values["identity"]) > 1e3
    assert 1.0 < float(values["1/sqrt(L)"]) < 3.0
    assert math.isclose(float(values["rezero"]), 1.0, rel_tol=0.05)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_batchnorm_branch_starts_far_from_zero_unless_its_gain_starts_at_zero(seed: int) -> None:
    far = distance_from_identity(8, zero_gamma=False, seed=seed)
    assert 0.5 < far["first block"] < 2.0  # the branch is about as large as its input
    assert far["all blocks"] > 2.0
    assert distance_from_identity(8, zero_gamma=True, seed=seed) == {"first block": 0.0, "all blocks": 0.0}


@pytest.fixture(scope="module")
def init_scales():
    return run_init_scales(InitScalesConfig(depth=12, seeds=SEEDS))


def test_default_init_shrinks_the_gradient_about_four_times_per_block(init_scales) -> None:
    # (1/3 · 1/2 · 1/3)^(1/2) = 0.236 per block, from nn.Linear's variance 1/(3 fan_in)
    assert all(0.18 < f < 0.3 for f in init_scales.per_block("default"))
    assert all(run[0] < 1e-6 for run in init_scales.gradient["default"])


def test_the_init_picture_draws_one_line_per_initialisation_in_each_panel(init_scales) -> None:
    figure = plot_init_scales(init_scales)
    for ax, values in zip(figure.axes, (init_scales.activation, init_scales.gradient), strict=True):
        assert [line.get_label() for line in ax.get_lines()] == list(init_scales.config.inits)
        assert list(ax.get_lines()[0].get_ydata()) == values["default"][0]


def test_xavier_shrinks_both_ways_and_he_keeps_the_scale(init_scales) -> None:
    assert all(0.45 < f < 0.7 for f in init_scales.per_block("xavier"))
    assert all(0.45 < f < 0.7 for f in init_scales.per_block("xavier", "activation"))
    assert all(0.8 < f < 1.25 for f in init_scales.per_block("he"))
    assert all(0.8 < f < 1.25 for f in init_scales.per_block("he", "activation"))
    for run in init_scales.gradient["he"]:
        assert math.isclose(run[-1], 1.0, rel_tol=0.2)  # v itself, unit RMS


def test_he_init_is_variance_keeping_in_expectation() -> None:
    """Over many seeds the log gradient factor of He init averages about 0 (single seeds drift)."""
    result = run_init_scales(
        InitScalesConfig(depth=8, d_model=64, batch=64, inits=("he",), seeds=tuple(range(12)))
    )
    logs = [math.log(f) for f in result.per_block("he")]
    assert abs(sum(logs) / len(logs)) < 0.05


def test_init_scales_config_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="init"):
        InitScalesConfig(inits=("lecun",))
    with pytest.raises(TypeError, match="inits"):
        InitScalesConfig(inits=[])
    with pytest.raises(TypeError, match="InitScalesConfig"):
        run_init_scales({"depth": 4})


@pytest.mark.parametrize("residual", [False, True])
def test_forward_mode_prefix_gradients_agree_with_autograd(residual: bool) -> None:
    """Every depth's curve from the one forward-mode pass is the autograd gradient of the net cut
    after that many blocks; the full depth is grid_gradients' net."""
    from torch.nn import functional as F

    from coursekit.data import make_grid
    from coursekit.experiments.shattered import ScalarNet, calibrated, prefix_gradients
    from coursekit.seeding import seed_everything

    curves = prefix_gradients(6, residual, width=32, n_points=64, seed=2)
    assert curves.shape == (6, 64)
    grid = make_grid(64)
    seed_everything(2)
    net = calibrated(ScalarNet(6, 32, residual=residual), grid)
    x = grid.clone().requires_grad_(True)
    h = net.stem(x)
    for d, (linear, norm) in enumerate(zip(net.blocks, net.norms, strict=True)):
        h = h + linear(F.relu(norm(h))) if residual else F.relu(norm(linear(h)))
        (g,) = torch.autograd.grad(net.head(h).sum(), x, retain_graph=True)
        torch.testing.assert_close(curves[d], g.squeeze(1), rtol=1e-4, atol=1e-5)
    _, full, _ = grid_gradients(6, residual, width=32, n_points=64, seed=2)
    torch.testing.assert_close(curves[-1], torch.tensor(full), rtol=1e-4, atol=1e-5)


def test_run_shattered_measures_each_seeds_net_cut_at_each_depth() -> None:
    """A depth's number is the autocorrelation of the deepest net cut there: at the deepest depth,
    grid_gradients' own net; the curves behind every depth are kept for the widget."""
    result = run_shattered(ShatteredConfig(depths=(3, 8), seeds=(0, 4), width=32), progress_bar=False)
    assert result.gradients["plain"].shape == (2, 8, 256) and len(result.grid) == 256
    for j, seed in enumerate((0, 4)):
        _, _, rho = grid_gradients(8, residual=True, width=32, seed=seed)
        assert math.isclose(result.correlation["residual"][1][j], rho, rel_tol=1e-4)
        cut = result.gradients["plain"][j, 2]
        assert result.correlation["plain"][0][j] == lag1_autocorrelation(cut)


@pytest.fixture(scope="module")
def shattered() -> ShatteredResult:
    return run_shattered(ShatteredConfig(depths=(1, 24), seeds=(0, 1)), progress_bar=False)


def test_the_shattered_view_shows_plain_noise_and_residual_structure(shattered) -> None:
    summary, figure = shattered_view(depth=24, seed=1, result=shattered)
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    assert summary.startswith("depth 24 | seed 1 |")
    values = dict(part.split(": ") for part in summary.split(" | ")[3:])
    assert float(values["plain"]) == pytest.approx(shattered.correlation["plain"][1][1], abs=0.005)
    assert abs(float(values["plain"])) < 0.2 and float(values["residual"]) > 0.6
    with pytest.raises(ValueError, match="depth"):
        shattered_view(depth=0, seed=0, result=shattered)
    with pytest.raises(ValueError, match="depth"):
        shattered_view(depth=25, seed=0, result=shattered)
    with pytest.raises(ValueError, match="seed"):
        shattered_view(depth=2, seed=2, result=shattered)


def test_the_shattered_explorer_follows_its_controls(shattered) -> None:
    explorer = shattered_explorer(shattered, depth=2)
    assert explorer.controls["depth"].max == 24
    explorer.controls["depth"].value = 3
    assert explorer.summary.startswith("depth 3 | seed 0 |")
    explorer.controls["seed"].value = 1
    assert explorer.summary.startswith("depth 3 | seed 1 |")


@pytest.mark.parametrize(
    ("question", "right", "wrong"), [("lesson1_he_gradient", "b", "a"), ("lesson1_shattered", "b", "a")]
)
def test_the_lesson_questions_accept_the_answer_and_refuse_another(question, right, wrong) -> None:
    assert check_answer(question, right).passed
    assert not check_answer(question, wrong).passed
