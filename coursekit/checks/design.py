"""Exercise 7: check an experiment the learner designed, as a reviewer would, never against a lesson.

- :func:`check_experiment_design`: the two arms differ in exactly the one factor the learner
  names (skips, norm placement or warm-up), with at least three seeds, within a laptop budget;
- :func:`check_experiment_conclusion`: the conclusion's numbers are the learner's own, recomputed
  from the result their runs returned, and its direction follows from them: a difference of the
  arms' means no larger than the spread over seeds must be called "no clear difference".

An honest "no clear difference" passes; a conclusion that contradicts the data fails with the
number that contradicts it.
"""

from __future__ import annotations

from ..experiments.gpt import GPTConfig, GPTResult
from . import conclusions
from .conclusions import NO_DIFFERENCE as NO_DIFFERENCE  # the tests and learners read it here
from .core import CheckFailed, check

FACTORS = {"residual": "the skips", "norm": "the norm placement", "warmup": "the warm-up"}
MIN_SEEDS = 3
MAX_RUN_STEPS = 2 * 3 * 400  # arms x seeds x steps: a few minutes on a slow laptop
HELD_OUT = conclusions.Measure(
    name="held-out loss",
    unit="bits",
    unit_long="bits per character",
    source="result",
    access="result.heldout(arm_name)",
    tolerance=0.01,  # bits: numbers stated to two decimals pass
)
KEYS = ("question", "hypothesis", "factor", "config")


def _design(my_experiment: object) -> dict:
    """The learner's design, its shape checked: a dict with a question, a hypothesis, a factor, a config."""
    if not callable(my_experiment):
        raise CheckFailed("pass your function my_experiment itself", "check_experiment_design(my_experiment)")
    design = my_experiment()
    if not isinstance(design, dict) or any(k not in design for k in KEYS):
        raise CheckFailed(
            "my_experiment() must return a dict with the keys " + ", ".join(KEYS),
            "return {'question': ..., 'hypothesis': ..., 'factor': ..., 'config': GPTConfig(...)}",
        )
    for key in ("question", "hypothesis"):
        if not isinstance(design[key], str) or len(design[key].split()) < 3:
            raise CheckFailed(f"state your {key} in a sentence", f"'{key}' is a sentence of your own")
    if design["factor"] not in FACTORS:
        raise CheckFailed(
            f"the factor {design['factor']!r} is not one of the arms' settings",
            "name the one thing your arms differ in: "
            + ", ".join(f"'{k}' ({v})" for k, v in FACTORS.items()),
        )
    if not isinstance(design["config"], GPTConfig):
        raise CheckFailed(
            "'config' must be a GPTConfig", "config = GPTConfig(arms=(arm_a, arm_b), seeds=...)"
        )
    return design


def _differences(config: GPTConfig) -> list[str]:
    if len(config.arms) != 2:
        raise CheckFailed(
            f"your config has {len(config.arms)} arms; an experiment on one factor compares two",
            "GPTConfig(arms=(arm_a, arm_b), ...): one arm per level of your factor",
        )
    a, b = config.arms
    return [f for f in FACTORS if getattr(a, f) != getattr(b, f)]


@check("experiment_design")
def check_experiment_design(my_experiment: object) -> str:
    """Two arms differing in exactly the stated factor, at least three seeds, a laptop budget."""
    design = _design(my_experiment)
    config, factor = design["config"], design["factor"]
    differ = _differences(config)
    if not differ:
        raise CheckFailed(
            "your two arms are the same model and schedule", f"change {FACTORS[factor]} in one arm"
        )
    if len(differ) > 1:
        raise CheckFailed(
            f"your arms differ in {' and '.join(differ)}: two things at once",
            "a difference could then come from either; change only " + FACTORS[factor] + f" ({factor!r})",
        )
    if differ[0] != factor:
        raise CheckFailed(
            f"your arms differ in {differ[0]!r}, not in the factor you stated ({factor!r})",
            "state the factor your arms really differ in, or change the arms",
        )
    if len(config.seeds) < MIN_SEEDS:
        raise CheckFailed(
            f"{len(config.seeds)} seed(s): too few to state a spread",
            f"use at least {MIN_SEEDS} seeds, e.g. seeds=(0, 1, 2): one seed is not a rule",
        )
    if len(config.seeds) * len(config.arms) * config.steps > MAX_RUN_STEPS:
        raise CheckFailed(
            "your budget is more than a laptop trains in a few minutes",
            f"keep arms x seeds x steps at most {MAX_RUN_STEPS} (fewer steps or seeds)",
        )
    a, b = config.arms
    seeds = len(config.seeds)
    return f"{a.name!r} against {b.name!r}, differing only in {FACTORS[factor]}, {seeds} seeds"


def recompute(result: GPTResult) -> dict[str, object]:
    """What the data say: each arm's mean held-out bits, the difference of the means, the spread
    over seeds (the larger arm's range), and the better arm or "no clear difference"."""
    return conclusions.recompute({arm.name: result.heldout(arm.name) for arm in result.config.arms})


@check("experiment_conclusion")
def check_experiment_conclusion(my_conclusion: object, result: object, my_experiment: object) -> str:
    """The conclusion's numbers recomputed from ``result`` (the runs of the learner's design), and
    its direction held to them."""
    design = _design(my_experiment)
    if not callable(my_conclusion):
        raise CheckFailed(
            "pass your function my_conclusion itself", "check_experiment_conclusion(my_conclusion, ...)"
        )
    if not isinstance(result, GPTResult) or result.config != design["config"]:
        raise CheckFailed(
            "result is not the run of your design",
            "pass what run_gpt(my_experiment()['config']) returned, after any change to your design",
        )
    stated = conclusions.read_stated(my_conclusion(result), "my_conclusion(result) must return", HELD_OUT)
    data = recompute(result)
    conclusions.judge(stated, data, HELD_OUT)
    difference, spread = data["difference"], data["spread"]
    return f"{data['better']}, difference {difference:.2f} bits against a spread of {spread:.2f}"
