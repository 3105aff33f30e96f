"""Lessons 7 and 7b's widgets and questions: what the sliders call, on small runs made here."""

import json
import re
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from coursekit.checks import check_answer
from coursekit.checks.questions import QUESTIONS
from coursekit.experiments import (
    DenseNetConfig,
    OrderConfig,
    ShortcutConfig,
    run_block_orders,
    run_densenet,
    run_shortcuts,
)
from coursekit.widgets import (
    block_order_explorer,
    block_order_view,
    gate_carry_explorer,
    gate_carry_view,
    shortcut_explorer,
    shortcut_view,
)


@pytest.fixture(scope="module")
def runs():
    seeds = (0, 1)
    shortcuts = run_shortcuts(ShortcutConfig(depth=4, epochs=1, seeds=seeds), progress_bar=False)
    densenet = run_densenet(DenseNetConfig(depth=4, epochs=1, seeds=seeds, baselines=()), progress_bar=False)
    return shortcuts, densenet


def test_shortcut_view_orders_every_variant_at_the_chosen_seed(runs):
    shortcuts, densenet = runs
    summary, figure = shortcut_view("gated -6", 1, shortcuts, densenet)
    assert summary.startswith("seed 1 | gated -6: final loss")
    order = summary.split("lowest to highest: ")[1].split(" < ")
    assert sorted(order) == sorted([*shortcuts.config.variants, "densenet"])
    losses = [shortcuts.final_loss.get(v, densenet.final_loss.get(v))[1] for v in order]
    assert losses == sorted(losses)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels[:3] == ["identity", "none", "gated -6"]
    assert list(figure.axes[0].get_lines()[2].get_ydata()) == shortcuts.curves_by_seed["gated -6"][1]


def test_shortcut_view_refuses_unknown_choices(runs):
    shortcuts, densenet = runs
    with pytest.raises(ValueError, match="seed"):
        shortcut_view("identity", 7, shortcuts, densenet)
    with pytest.raises(ValueError, match="concat"):
        shortcut_view("concat", 0, shortcuts, densenet)


def test_shortcut_explorer_redraws_from_the_stored_runs(runs):
    explorer = shortcut_explorer(*runs)
    assert explorer.summary.startswith("seed 0 | gated -1")
    explorer.controls["seed"].value = 1
    assert explorer.summary.startswith("seed 1 | gated -1")
    explorer.controls["variant"].value = "densenet"
    assert "densenet: final loss" in explorer.summary


def test_gate_carry_view_bias_minus_one_is_a_plain_net_minus_six_is_not():
    summary, figure = gate_carry_view(-1.0, 32)
    assert summary.startswith("depth 32 | gated, bias -1:")
    gated = list(figure.axes[0].get_lines()[1].get_ydata())
    assert 0.6 < gated[0] < 0.85 and gated[-1] < 1e-3
    assert gated == sorted(gated, reverse=True)
    _, figure = gate_carry_view(-6.0, 32)
    assert figure.axes[0].get_lines()[1].get_ydata()[-1] > 0.8


def test_gate_carry_explorer_follows_its_sliders():
    explorer = gate_carry_explorer()
    explorer.controls["depth"].value = 8
    assert explorer.summary.startswith("depth 8 |")
    explorer.controls["gate_bias"].value = -6.0
    assert "bias -6" in explorer.summary


LESSON_ANSWERS = {
    "skip_residual_same": "c",
    "gate_bias_blocks": 15,
    "densenet_width": 64 + 32 * 12,
    "residual_exploding": "b",
    "which_skips_train": "c",
    "block_order_shortcut": "c",
}


@pytest.mark.parametrize("question_id", list(LESSON_ANSWERS))
def test_lesson_questions_accept_their_answer_and_refuse_another(question_id):
    assert question_id in QUESTIONS
    assert check_answer(question_id, LESSON_ANSWERS[question_id]).passed
    wrong = "a" if QUESTIONS[question_id].choices else LESSON_ANSWERS[question_id] + 1
    if QUESTIONS[question_id].choices and LESSON_ANSWERS[question_id] == "a":
        wrong = "b"
    assert not check_answer(question_id, wrong).passed


def _stored_cells(name: str) -> dict[str, dict]:
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / name
    return {cell["id"]: cell for cell in json.loads(notebook.read_text())["cells"]}


def test_stored_lesson_has_a_number_for_every_misconception():
    """The closing table of the stored lesson: seven myths, each measured with a number."""
    cells = _stored_cells("07_skip_is_not_residual.ipynb")
    text = "".join("".join(o.get("text", "")) for o in cells["skip-29"]["outputs"])
    for number in range(1, 8):
        assert f"{number}. MYTH:" in text, number
    measured = re.findall(r"MEASURED: (.*)", text)
    assert len(measured) == 7 and all(re.search(r"\d", line) for line in measured)
    both = [*cells.values(), *_stored_cells("07b_preactivation.ipynb").values()]
    answers = [c for c in both if "check_answer(" in "".join(c["source"]) and c["outputs"]]
    assert len(answers) == len(LESSON_ANSWERS)
    for cell in answers:  # every question of lessons 7 and 7b answered, and answered right, when stored
        assert "".join(cell["outputs"][-1]["text"]).startswith("✅"), cell["id"]


def test_block_order_view_shows_the_runs_it_is_given():
    orders = run_block_orders(OrderConfig(depth=2, width=16, epochs=1, seeds=(0, 1)), progress_bar=False)
    summary, figure = block_order_view("full pre-activation", 1, orders)
    assert isinstance(figure, Figure) and len(figure.axes[0].get_lines()) == 3
    error = orders.test_error["full pre-activation"][1]
    assert summary.startswith("seed 1 | full pre-activation") and f"held-out error {error:.2g} %" in summary
    assert summary.endswith(" < ".join(orders.ranking(1, "test_error")))
    for bad in ({"order": "post-norm", "seed": 0}, {"order": "original", "seed": 7}):
        with pytest.raises(ValueError, match="must be one of"):
            block_order_view(orders=orders, **bad)
    explorer = block_order_explorer(orders)
    first = explorer.summary
    explorer.controls["seed"].value = 1
    assert explorer.summary != first and explorer.summary.startswith("seed 1")


def _myth_row(number: int) -> str:
    cells = _stored_cells("07_skip_is_not_residual.ipynb")
    text = "".join("".join(o.get("text", "")) for o in cells["skip-29"]["outputs"])
    return text.split(f"{number}. MYTH:")[1].split("MEASURED:")[1].split("\n")[0]


def _values(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"\d+\.\d+|\d+", text)]


def test_stored_myth_rows_on_post_norm_keep_their_directions():
    """Rows 4 and 5 train lesson 6b's two SGD post-norm arms (3 seeds): without warm-up every seed
    stays at chance, with warm-up every seed ends below the lowest of them; pre-norm's last-layer
    gradient at init shrinks from 6 to 24 layers while post-norm's stays above both."""
    row5 = _myth_row(5)
    without = _values(row5.split("without warm-up")[1].split(",")[0])
    with_warmup = _values(row5.split("with warm-up")[1])
    assert min(without) >= 2.3 and max(with_warmup) < min(without), row5
    row4 = _myth_row(4)
    assert _values(row4.split("rate 1:")[1].split(",")[0]) == [2.3] and "chance 2.30" in row4, row4
    pre6, pre24 = (_values(part) for part in row4.split("shrinks from")[1].split("(6")[0].split(" to "))
    post = _values(row4.split("post-norm's stays")[1].split(";")[0])
    assert max(pre24) < min(pre6) < max(pre6) < min(post), row4
