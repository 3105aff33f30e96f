"""Lesson 4's widget and questions, on a small decoder run made here."""

import pytest

from coursekit.checks import check_answer
from coursekit.experiments import DecoderConfig, run_decoder_ablation
from coursekit.widgets import decoder_ablation, decoder_explorer, decoder_view


@pytest.fixture(scope="module")
def small():
    config = DecoderConfig(steps=40, seeds=(0, 1), target_loss=2.0)
    return run_decoder_ablation(config, progress_bar=False)


def test_the_view_draws_the_variant_against_the_full_block_at_every_seed(small):
    summary, figure = decoder_view("no norms", result=small)
    assert summary.startswith("no norms: steps to loss 2:")
    assert summary.endswith("over seeds [0, 1]")
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels.count("residual+norm") == 1 and labels.count("no norms") == 1
    curves = [list(line.get_ydata()) for line in figure.axes[0].get_lines()[:4]]
    assert curves == [*small.loss_curves["residual+norm"], *small.loss_curves["no norms"]]


def test_the_full_block_is_drawn_alone_when_chosen(small):
    _, figure = decoder_view("residual+norm", result=small)
    labels = {line.get_label() for line in figure.axes[0].get_lines()}
    assert "no residuals" not in labels and "residual+norm" in labels


def test_the_view_refuses_an_unknown_variant(small):
    with pytest.raises(ValueError, match="no skips"):
        decoder_view("no skips", result=small)


def test_the_explorer_redraws_from_the_given_runs(small):
    explorer = decoder_explorer(small, variant="no residuals")
    assert explorer.summary.startswith("no residuals")
    explorer.controls["variant"].value = "MLP residual only"
    assert explorer.summary.startswith("MLP residual only")


def test_a_config_is_trained_once_and_kept():
    config = DecoderConfig(steps=3, seeds=(0,), variants=("residual+norm",))
    assert decoder_ablation(config) is decoder_ablation(config)


@pytest.mark.parametrize(
    "question, right, wrong",
    [
        ("block_causal_positions", 3, 10),
        ("block_decoder_residual", "b", "a"),
        ("block_decoder_norms", "b", "c"),
        ("lesson_block_adam_scale", "c", "a"),
        ("lesson_block_norms_role", "b", "a"),
    ],
)
def test_the_questions_accept_the_answer_and_refuse_another(question, right, wrong):
    assert check_answer(question, right).passed
    assert not check_answer(question, wrong).passed
