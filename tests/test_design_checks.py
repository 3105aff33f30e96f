"""Exercise 7's checks: what a reviewer checks of a designed experiment, never agreement with a lesson.

The catalogue of wrong experiments runs on results built from chosen numbers (no training), so
each verdict is known exactly; ``coursekit grade`` then grades the solution (full marks) and
the exercise (not attempted) end to end.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from coursekit import Arm, GPTConfig
from coursekit.checks import check_experiment_conclusion, check_experiment_design
from coursekit.checks.design import NO_DIFFERENCE, recompute
from coursekit.course.cli import main
from coursekit.experiments.gpt import GPTResult, GPTRun

ROOT = Path(__file__).resolve().parents[1]
POST, WARM = Arm("post-norm", norm="post"), Arm("post-norm + warm-up", norm="post", warmup=True)
CONFIG = GPTConfig(arms=(POST, WARM), seeds=(0, 1, 2), steps=150, batch=16, sample_steps=())


def experiment(config: GPTConfig = CONFIG, factor: str = "warmup", **changes: object):
    design = {
        "question": "Does post-norm need its warm-up here?",
        "hypothesis": "Post-norm without warm-up ends higher than with it.",
        "factor": factor,
        "config": config,
        **changes,
    }
    return lambda: design


def result_with(bits_a: list[float], bits_b: list[float], config: GPTConfig = CONFIG) -> GPTResult:
    """A result holding chosen held-out numbers, as if ``config`` had been run."""
    runs = [
        GPTRun(arm.name, seed, b, (), (), model=None)
        for arm, bits in zip(config.arms, (bits_a, bits_b), strict=True)
        for seed, b in zip(config.seeds, bits, strict=True)
    ]
    return GPTResult(config, tuple(runs), unigram_bits=4.65, bigram_bits=3.46, text=None)


def honest(result: GPTResult):
    return lambda _: {k: recompute(result)[k] for k in ("better", "difference", "spread")}


def stub(*args):
    raise NotImplementedError()


def verdict(check, *args):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = check(*args, record=False)
    return result, out.getvalue()


CLEAR = result_with([4.65, 4.64, 4.63], [4.27, 3.83, 4.08])  # warm-up lower by 0.58, spread 0.44
NOISY = result_with([3.10, 3.02, 3.07], [3.12, 3.00, 3.09])  # difference 0.007, spread 0.12


def test_the_solution_design_passes_and_a_stub_is_not_attempted():
    assert verdict(check_experiment_design, experiment())[0].passed
    assert verdict(check_experiment_design, stub)[0].status == "not attempted"
    assert verdict(check_experiment_conclusion, stub, None, stub)[0].status == "not attempted"
    assert verdict(check_experiment_conclusion, stub, CLEAR, experiment())[0].status == "not attempted"


@pytest.mark.parametrize(
    ("design", "words"),
    [
        (experiment(GPTConfig(arms=(Arm("pre"), WARM), seeds=(0, 1, 2))), "norm and warmup: two things"),
        (experiment(factor="norm", config=CONFIG), "not in the factor you stated"),
        (experiment(GPTConfig(arms=(POST, Arm("post 2", norm="post")))), "the same model"),
        (experiment(GPTConfig(arms=(POST, WARM), seeds=(0, 1))), "too few"),
        (experiment(GPTConfig(arms=(POST, WARM, Arm("pre")))), "3 arms"),
        (experiment(GPTConfig(arms=(POST, WARM), steps=5000)), "budget"),
        (experiment(factor="depth"), "not one of the arms' settings"),
        (experiment(hypothesis=""), "hypothesis"),
        (lambda: "warm-up matters", "must return a dict"),
    ],
)
def test_a_wrong_design_fails_with_a_specific_hint(design, words):
    result, printed = verdict(check_experiment_design, design)
    assert result.status == "failed" and words in result.message + result.hint, printed
    assert "hint:" in printed


def test_an_honest_conclusion_passes_whichever_way_the_data_point():
    assert recompute(CLEAR)["better"] == "post-norm + warm-up"
    assert verdict(check_experiment_conclusion, honest(CLEAR), CLEAR, experiment())[0].passed
    assert recompute(NOISY)["better"] == NO_DIFFERENCE
    assert verdict(check_experiment_conclusion, honest(NOISY), NOISY, experiment())[0].passed


def stated(better: str, difference: float, spread: float):
    return lambda _: {"better": better, "difference": difference, "spread": spread}


@pytest.mark.parametrize(
    ("conclusion", "result", "words"),
    [
        # copied from lesson 8 (pre-norm against no skips): not this run's numbers
        (stated("post-norm + warm-up", 1.59, 0.10), CLEAR, "difference you state, 1.59"),
        (stated("post-norm + warm-up", 0.58, 0.02), CLEAR, "spread you state, 0.02"),
        # the direction contradicts the data, with the learner's own numbers
        (stated("post-norm", 0.58, 0.44), CLEAR, "contradicts your data"),
        (stated(NO_DIFFERENCE, 0.58, 0.44), CLEAR, "contradicts your data"),
        # a difference inside the spread called a win
        (stated("post-norm", recompute(NOISY)["difference"], 0.12), NOISY, "no larger than the spread"),
        (stated("pre-norm", 0.58, 0.44), CLEAR, "'better' is 'pre-norm'"),
        (lambda _: "warm-up wins", CLEAR, "must return a dict"),
    ],
)
def test_a_wrong_conclusion_fails_naming_the_number(conclusion, result, words):
    verdict_, printed = verdict(check_experiment_conclusion, conclusion, result, experiment())
    assert verdict_.status == "failed" and words in verdict_.message + verdict_.hint, printed


def test_numbers_from_another_run_are_not_the_learners():
    other = result_with([4.65, 4.64, 4.63], [4.27, 3.83, 4.08], GPTConfig(arms=(POST, WARM), seeds=(3, 4, 5)))
    result, _ = verdict(check_experiment_conclusion, honest(other), other, experiment())
    assert result.status == "failed" and "not the run of your design" in result.message
    assert (
        "contradicts your data: 'post-norm + warm-up'"
        in verdict(check_experiment_conclusion, stated("post-norm", 0.58, 0.44), CLEAR, experiment())[
            0
        ].message
    )


@pytest.mark.parametrize(("folder", "expected"), [("solutions", "passed"), ("exercises", "not attempted")])
def test_coursekit_grade_gives_the_solution_full_marks_and_the_exercise_not_attempted(
    tmp_path, folder, expected
):
    report = tmp_path / "report.grade.json"
    with contextlib.redirect_stdout(io.StringIO()):
        main(
            [
                "grade",
                str(ROOT / folder / "exercise_07_design_experiment.ipynb"),
                "--json",
                str(report),
                "--timeout",
                "300",
            ]
        )
    (notebook,) = json.loads(report.read_text())["notebooks"]
    scores = {s["check"]: s["status"] for s in notebook["scores"]}
    assert scores == {"experiment_design": expected, "experiment_conclusion": expected}, notebook
