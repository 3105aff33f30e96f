"""Lesson 3's widget, claims and questions: what the controls call, and the directions it shows."""

import pytest
import torch

from coursekit import MLP, seed_everything
from coursekit.checks import check_answer
from coursekit.widgets import rank_collapse_explorer, rank_collapse_view


def test_the_default_view_shows_attention_alone_collapsed():
    summary, figure = rank_collapse_view()
    assert summary.startswith("attention, depth 12: distance from rank one")
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["attention"]
    assert len(lines[0].get_ydata()) == 13  # the input and 12 layers
    assert lines[0].get_ydata()[-1] < 1e-4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_skip_stops_the_collapse_at_every_seed(seed):
    _, plain = rank_collapse_view(12, residual=False, mlp=False, seed=seed)
    _, skipped = rank_collapse_view(12, residual=True, mlp=False, seed=seed)
    assert plain.axes[0].get_lines()[0].get_ydata()[-1] < 1e-3
    assert skipped.axes[0].get_lines()[0].get_ydata()[-1] > 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_without_skips_the_mlp_does_not_stop_the_collapse(seed):
    """The lesson's honest finding: at PyTorch's default init the MLP does not slow it."""
    _, figure = rank_collapse_view(4, residual=False, mlp=True, seed=seed)
    with_mlp, alone = (line.get_ydata() for line in figure.axes[0].get_lines())
    assert with_mlp[-1] < 1e-4 and with_mlp[1] < alone[1]


def test_a_shallower_view_is_a_prefix_of_the_deeper_one():
    _, shallow = rank_collapse_view(3, residual=True, mlp=True)
    _, deep = rank_collapse_view(20, residual=True, mlp=True)
    assert list(shallow.axes[0].get_lines()[0].get_ydata()) == list(
        deep.axes[0].get_lines()[0].get_ydata()[:4]
    )


@pytest.mark.parametrize("depth", [0, 25, 2.5, True])
def test_the_view_refuses_a_depth_outside_the_slider(depth):
    with pytest.raises(ValueError, match="depth"):
        rank_collapse_view(depth)


def test_the_explorer_redraws_when_a_switch_moves():
    explorer = rank_collapse_explorer(depth=6)
    before = explorer.summary
    explorer.controls["residual"].value = True
    assert explorer.summary != before and explorer.summary.startswith("attention+skip, depth 6")
    explorer.controls["mlp"].value = True
    assert explorer.summary.startswith("attention+MLP+skip, depth 6")


def test_the_mlp_moves_only_the_changed_position():
    seed_everything(0)
    mlp = MLP(8)
    x = torch.randn(2, 5, 8)
    x2 = x.clone()
    x2[:, 3] += 1.0
    with torch.no_grad():
        moved = (mlp(x2) - mlp(x)).abs().amax(dim=(0, 2))
    assert moved[3] > 0 and torch.count_nonzero(moved) == 1


@pytest.mark.parametrize(
    "question, right, wrong",
    [
        ("mlp_parameters", 8 * 512**2 + 5 * 512, 4 * 512**2),
        ("mlp_one_token", "b", "a"),
        ("mlp_without_attention", "b", "a"),
        ("lesson3_one_token", "a", "b"),
        ("lesson3_rank_collapse", "b", "a"),
    ],
)
def test_the_questions_accept_the_answer_and_refuse_another(question, right, wrong):
    assert check_answer(question, right).passed
    assert not check_answer(question, wrong).passed


@pytest.mark.parametrize("seed", (0, 3))
def test_rank_collapse_runs_each_stack_with_and_without_skips_as_if_built_alone(seed: int) -> None:
    """run_rank_collapse builds each stack once and runs it with its skip weights at 0, then at
    1: the numbers must be those of each variant's own stack, seeded alike, to the last bit."""
    from coursekit.experiments import RankCollapseConfig, run_rank_collapse
    from coursekit.experiments.rank import VARIANTS, AttentionStack
    from coursekit.probes import rank_collapse

    config = RankCollapseConfig(depth=5, seeds=(seed,))
    x = torch.randn(config.batch, config.seq, config.d_model, generator=torch.Generator().manual_seed(seed))
    alone = {}
    for name, (mlp, residual) in VARIANTS.items():
        seed_everything(seed)
        alone[name] = rank_collapse(AttentionStack(5, config.d_model, config.n_heads, mlp, residual), x)
    assert run_rank_collapse(config).curves(0) == alone
