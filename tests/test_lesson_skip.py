"""Lesson 5 and exercise 5: the live widget, and the checks on the learner's stacks, arms and results.

Each check passes the reference, says "not attempted" for a stub, and fails each known mistake
with the hint that names it.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from coursekit import TrainConfig
from coursekit.checks import check_skip_arms, check_skip_results, check_skip_stacks
from coursekit.checks.results import STACK_HINTS
from coursekit.seeding import seed_everything
from coursekit.widgets import skip_training_explorer, skip_training_stream, skip_training_view

# ---- the learner's classes: the reference, and one class per known mistake --------------------


class PlainBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.linear1 = nn.Linear(width, width, bias=False)
        self.norm1 = nn.BatchNorm1d(width, track_running_stats=False)
        self.linear2 = nn.Linear(width, width, bias=False)
        self.norm2 = nn.BatchNorm1d(width, track_running_stats=False)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm2(self.linear2(F.relu(self.norm1(self.linear1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.branch(x))


class ResidualBlock(PlainBlock):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.branch(x))


class PlainStack(nn.Module):
    block = PlainBlock

    def __init__(self, depth: int, width: int = 64, d_in: int = 64, n_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Linear(d_in, width, bias=False), nn.BatchNorm1d(width, track_running_stats=False), nn.ReLU()
        )
        self.blocks = nn.ModuleList(self.block(width) for _ in range(depth))
        self.norm = nn.BatchNorm1d(width, track_running_stats=False)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


class ResidualStack(PlainStack):
    block = ResidualBlock


def residual_stack_with(forward):
    block = type("Block", (PlainBlock,), {"forward": forward})
    return type("ResidualStack", (PlainStack,), {"block": block})


WRONG_RESIDUALS = {
    "no_skip": lambda self, x: F.relu(self.branch(x)),
    "skip_after_relu": lambda self, x: x + F.relu(self.branch(x)),
    "skip_one_layer": lambda self, x: F.relu(
        self.norm2(self.linear2(F.relu(x + self.norm1(self.linear1(x)))))
    ),
    "inner_relu": lambda self, x: F.relu(x + self.norm2(self.linear2(self.norm1(self.linear1(x))))),
}


def test_the_reference_stacks_pass():
    assert check_skip_stacks(PlainStack, ResidualStack, record=False).passed


@pytest.mark.parametrize("bug", sorted(WRONG_RESIDUALS))
def test_each_wrong_residual_block_gets_its_hint(bug):
    result = check_skip_stacks(PlainStack, residual_stack_with(WRONG_RESIDUALS[bug]), record=False)
    assert not result.passed and result.hint == STACK_HINTS[bug], result


def test_a_plain_stack_with_a_skip_is_found():
    plain = type("PlainStack", (PlainStack,), {"block": ResidualBlock})
    result = check_skip_stacks(plain, ResidualStack, record=False)
    assert not result.passed and result.hint == STACK_HINTS["plain_has_skip"]


def test_different_parameters_and_running_statistics_are_refused():
    class Wider(ResidualStack):
        def __init__(self, depth, width=64, d_in=64, n_classes=10):
            super().__init__(depth, width + 1, d_in, n_classes)

    assert check_skip_stacks(PlainStack, Wider, record=False).hint == STACK_HINTS["params"]

    class Tracking(ResidualStack):
        def __init__(self, depth, width=64, d_in=64, n_classes=10):
            super().__init__(depth, width, d_in, n_classes)
            self.norm = nn.BatchNorm1d(width)

    assert check_skip_stacks(PlainStack, Tracking, record=False).hint == STACK_HINTS["running_stats"]


def test_a_stub_is_not_attempted():
    class Stub(nn.Module):
        def __init__(self, depth, width=64, d_in=64, n_classes=10):
            super().__init__()
            raise NotImplementedError()

    assert check_skip_stacks(Stub, Stub, record=False).status == "not attempted"


# ---- make_arms ---------------------------------------------------------------------------------

CONFIG = TrainConfig(steps=10, lr=0.5)


def make_arms(depth, seed):
    seed_everything(seed)
    plain = PlainStack(depth)
    seed_everything(seed)
    return plain, ResidualStack(depth), CONFIG, CONFIG


def test_fair_arms_pass_and_unfair_ones_fail():
    assert check_skip_arms(make_arms, record=False).passed

    def unseeded(depth, seed):
        return PlainStack(depth), ResidualStack(depth), CONFIG, CONFIG

    assert "initial" in check_skip_arms(unseeded, record=False).message

    def seed_ignored(depth, seed):
        return make_arms(depth, 0)

    assert "seeds 0 and 1" in check_skip_arms(seed_ignored, record=False).message

    def other_rate(depth, seed):
        plain, residual, config, _ = make_arms(depth, seed)
        return plain, residual, config, TrainConfig(steps=10, lr=0.1)

    assert "lr" in check_skip_arms(other_rate, record=False).message

    def same_arm(depth, seed):
        plain, _, config, _ = make_arms(depth, seed)
        seed_everything(seed)
        return plain, PlainStack(depth), config, config

    assert not check_skip_arms(same_arm, record=False).passed


def test_make_arms_stub_is_not_attempted():
    def stub(depth, seed):
        raise NotImplementedError()

    assert check_skip_arms(stub, record=False).status == "not attempted"


# ---- results: wrong conclusions found by their effect ------------------------------------------

GOOD = {
    3: {"plain": [0.1, 0.0, 0.2], "residual": [0.0, 0.0, 0.1]},
    12: {"plain": [17, 19, 32], "residual": [0.1, 0.7, 0]},
}


def _with(depth, arm, values):
    results = {d: dict(arms) for d, arms in GOOD.items()}
    results[depth][arm] = values
    return results


@pytest.mark.parametrize(
    "results, words",
    [
        ({12: GOOD[12]}, "1 depth"),
        ({d: {"plain": a["plain"][:1], "residual": a["residual"][:1]} for d, a in GOOD.items()}, "one seed"),
        ({d: {"plain": a["residual"], "residual": a["plain"]} for d, a in GOOD.items()}, "above the plain"),
        ({d: {"plain": a["plain"], "residual": a["plain"]} for d, a in GOOD.items()}, "identical"),
        ({3: GOOD[3], 6: {"plain": [0.3, 0.5, 0.2], "residual": [0.1, 0.0, 0.2]}}, "not clearly apart"),
        (_with(12, "residual", [9.0, 12.0, 8.0]), "residual stack's error"),
        (_with(3, "plain", [40.0, 50.0, 45.0]), "at 3 blocks"),
        (_with(12, "residual", [0.1, 120.0, 0.0]), "impossible"),
        ({"deep": GOOD[12], 3: GOOD[3]}, "depths"),
        ({3: GOOD[3], 12: {"plain": [17, 19, 32]}}, "arms"),
        ([1, 2], "dict"),
    ],
)
def test_results_that_do_not_show_the_lesson_fail(results, words):
    result = check_skip_results(results, record=False)
    assert not result.passed and words in result.message, result


def test_good_results_pass_and_missing_ones_are_not_attempted():
    assert check_skip_results(GOOD, record=False).passed
    assert check_skip_results(None, record=False).status == "not attempted"


# ---- the live widget ---------------------------------------------------------------------------


def test_view_trains_both_twins_and_the_residual_one_learns_faster():
    summary, figure = skip_training_view(depth=12, epochs=3)
    assert summary.startswith("12 blocks (26 layers), epoch 3/3")
    lines = figure.axes[0].lines
    assert [line.get_label() for line in lines] == ["plain (without skips)", "residual (with skips)"]
    plain, residual = (line.get_ydata() for line in lines)
    assert residual[-10:].mean() < 0.5 * plain[-10:].mean()


def test_stream_draws_pieces_and_replays_a_finished_run():
    first = list(skip_training_stream(depth=2, epochs=3, arms="with skips"))
    assert [s.epoch for s in first] == [1, 2, 3] and set(first[-1].loss) == {"residual"}
    assert list(skip_training_stream(depth=2, epochs=3, arms="with skips")) == first
    with pytest.raises(ValueError, match="arms"):
        list(skip_training_stream(depth=2, epochs=1, arms="sometimes"))


def test_explorer_redraws_when_a_control_moves():
    explorer = skip_training_explorer(depth=2, epochs=2)
    before = explorer.summary
    explorer.controls["depth"].value = 3
    assert explorer.summary != before and explorer.summary.startswith("3 blocks")


def test_the_title_names_the_twins_it_shows():
    titles = {
        arms: skip_training_view(depth=2, epochs=1, arms=arms)[1].axes[0].get_title()
        for arms in ("both", "with skips", "without skips")
    }
    assert titles["both"].endswith("the same net with and without skips")
    assert titles["with skips"].endswith("the same net with skips")
    assert titles["without skips"].endswith("the same net without skips")


def test_the_live_widget_answers_with_its_axes_and_stores_the_finished_run():
    """Built, the live widget draws the run's empty axes (no training); displayed, it shows that
    picture, the widget and its rules, trains in view, then replaces the picture with the
    finished run's (what a notebook stores for readers without a kernel)."""
    from IPython.core.interactiveshell import InteractiveShell

    from coursekit.widgets import skip

    skip._RUNS.pop((3, 2, "both", 0), None)
    explorer = skip_training_explorer(depth=3, epochs=2)
    assert explorer.summary == "3 blocks (8 layers), epoch 0/2 | training..."
    assert not explorer.figure.axes[0].lines[0].get_xdata().size  # no curve yet
    shell = InteractiveShell.instance()
    published = []
    real = shell.display_pub.publish
    shell.display_pub.publish = lambda data, metadata=None, **kw: published.append((data, kw))
    try:
        explorer._ipython_display_()
    finally:
        shell.display_pub.publish = real
    pictures = [(data, kw) for data, kw in published if "image/png" in data]
    (first, shown), (last, updated) = pictures[0], pictures[-1]
    assert "epoch 0/2" in first["text/plain"] and not shown.get("update")
    assert updated.get("update") and updated["transient"] == shown["transient"]
    assert last["text/plain"].startswith("3 blocks (8 layers), epoch 2/2 |")
    assert explorer.summary == skip_training_view(depth=3, epochs=2)[0]  # the run, finished
