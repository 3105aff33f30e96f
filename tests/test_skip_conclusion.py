"""Exercise 5's graded conclusion: held to the learner's own numbers, depth by depth.

Results are built from chosen numbers (no training), so each verdict is known exactly. Right
conclusions pass, an honest "no clear difference" at a shallow depth among them, with the reason
it is one; each wrong conclusion fails with the hint that names its number.
"""

from __future__ import annotations

import contextlib
import io
import statistics

import pytest

from coursekit.checks import check_skip_conclusion
from coursekit.checks.conclusions import NO_DIFFERENCE

# like exercise 5's solution at 6 epochs (seeds 0-2; it trains 3 now): a tie at 2 blocks, degradation at 12
MINE = {
    2: {"plain": [0.0, 0.22, 0.15], "residual": [0.074, 0.074, 0.15]},
    12: {"plain": [39.0, 46.0, 45.8], "residual": [0.074, 0.59, 0.3]},
}
# a learner who chose depths where the skip does not matter yet
SHALLOW = {
    2: MINE[2],
    4: {"plain": [0.074, 0.22, 0.0], "residual": [0.0, 0.15, 0.074]},
}
# the plain arm's seeds disagree: one fails, two train
SPLIT = {2: MINE[2], 12: {"plain": [0.3, 45.0, 0.2], "residual": [0.1, 0.2, 0.3]}}


def numbers(arms: dict) -> dict:
    """Worked out by hand from the definitions, not with the check's helper."""
    means = {arm: statistics.fmean(v) for arm, v in arms.items()}
    difference = abs(means["plain"] - means["residual"])
    spread = max(max(v) - min(v) for v in arms.values())
    better = min(means, key=means.get) if difference > spread else NO_DIFFERENCE
    return {"better": better, "difference": difference, "spread": spread}


def honest(results: dict) -> dict:
    return {depth: numbers(arms) for depth, arms in results.items()}


def stating(conclusion: dict):
    return lambda results: conclusion


def changed(depth: int, **entry: object) -> dict:
    conclusion = honest(MINE)
    conclusion[depth] = {**conclusion[depth], **entry}
    return conclusion


def verdict(*args):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = check_skip_conclusion(*args, record=False)
    return result, out.getvalue()


def stub(results):
    raise NotImplementedError()


def test_the_stub_and_missing_results_are_not_attempted():
    assert verdict(stub, MINE)[0].status == "not attempted"
    assert verdict(stub, None)[0].status == "not attempted"
    assert verdict(honest, None)[0].status == "not attempted"


def test_an_honest_conclusion_passes_and_says_why_the_shallow_depth_ties():
    assert honest(MINE)[2]["better"] == NO_DIFFERENCE and honest(MINE)[12]["better"] == "residual"
    result, printed = verdict(honest, MINE)
    assert result.passed, printed
    assert "at 2 blocks the plain stack still trains" in result.message
    assert "within the spread" in result.message
    assert "your data show it at 12 blocks" in result.message


def test_depths_where_the_skip_does_not_matter_yet_pass_and_say_go_deeper_and_why():
    assert {d["better"] for d in honest(SHALLOW).values()} == {NO_DIFFERENCE}
    result, printed = verdict(honest, SHALLOW)
    assert result.passed, printed
    assert "at 4 blocks the plain stack still trains" in result.message
    assert "you trained no deeper" in result.message and "train deeper" in result.message


def test_numbers_stated_to_one_decimal_pass():
    rounded = {
        d: {**c, "difference": round(c["difference"], 1), "spread": round(c["spread"], 1)}
        for d, c in honest(MINE).items()
    }
    assert verdict(stating(rounded), MINE)[0].passed


def test_a_tie_from_seeds_that_disagree_is_explained_as_such():
    assert honest(SPLIT)[12]["better"] == NO_DIFFERENCE
    result, _ = verdict(honest, SPLIT)
    assert result.passed and "seeds disagree widely" in result.message


LESSON_5 = {  # lesson 5's table (20 epochs): its depths, and its 12-block numbers
    4: {"better": NO_DIFFERENCE, "difference": 0.03, "spread": 0.15},
    8: {"better": "residual", "difference": 6.0, "spread": 12.0},
    12: {"better": "residual", "difference": 16.5, "spread": 7.0},
    16: {"better": "residual", "difference": 51.0, "spread": 33.0},
}


@pytest.mark.parametrize(
    ("conclusion", "results", "words"),
    [
        # a win called inside the spread at the shallow depth: told why it is a tie
        (changed(2, better="residual"), MINE, "no larger than the spread over seeds 0.22"),
        (changed(2, better="plain"), MINE, "still trains"),
        # the direction contradicts the learner's own numbers
        (changed(12, better=NO_DIFFERENCE), MINE, "contradicts your data: 'residual'"),
        (changed(12, better="plain"), MINE, "by 43.28, more than the spread 7.00"),
        # numbers that are not the learner's
        (LESSON_5, MINE, "at 4 blocks, but your results have no such depth"),
        ({2: honest(MINE)[2], 12: LESSON_5[12]}, MINE, "the difference you state, 16.50 %"),
        (changed(12, spread=0.52), MINE, "the spread you state, 0.52 %, is not what your runs give: 7.00"),
        (changed(12, difference=0.43), MINE, "fraction"),  # a fraction, not percent
        (honest(SHALLOW), MINE, "no such depth"),  # another run's conclusion
        # shape
        ({2: honest(MINE)[2]}, MINE, "no conclusion at 12 blocks"),
        (changed(12, better="the skip"), MINE, "'better' is 'the skip'"),
        ({2: honest(MINE)[2], 12: "residual wins"}, MINE, "[12] must be a dict"),
        (changed(2, spread="small"), MINE, "'spread' must be a number"),
        ("residual is better", MINE, "not a dict by depth"),
    ],
)
def test_a_wrong_conclusion_fails_naming_the_number(conclusion, results, words):
    result, printed = verdict(stating(conclusion), results)
    assert result.status == "failed" and words in result.message + result.hint, printed
    assert "hint:" in printed


def test_the_inside_spread_hint_says_where_the_data_show_the_degradation():
    result, _ = verdict(stating(changed(2, better="residual")), MINE)
    assert "the skip does not matter yet" in result.hint and "your data show it at 12 blocks" in result.hint


def test_results_that_cannot_state_a_spread_or_a_conclusion_that_is_no_function_fail():
    one_seed = {d: {arm: v[:1] for arm, v in arms.items()} for d, arms in MINE.items()}
    assert "one seed only" in verdict(honest, one_seed)[0].message
    assert "pass your function" in verdict(honest(MINE), MINE)[0].message
