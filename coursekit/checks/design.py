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

import statistics

from ..experiments.gpt import GPTConfig, GPTResult
from .core import CheckFailed, check

FACTORS = {"residual": "the skips", "norm": "the norm placement", "warmup": "the warm-up"}
MIN_SEEDS = 3
MAX_RUN_STEPS = 2 * 3 * 400  # arms x seeds x steps: a few minutes on a slow laptop
NO_DIFFERENCE = "no clear difference"
TOLERANCE = 0.01  # bits: numbers stated to two decimals pass
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
    a, b = (arm.name for arm in result.config.arms)
    means = {name: statistics.fmean(result.heldout(name)) for name in (a, b)}
    spread = max(max(result.heldout(n)) - min(result.heldout(n)) for n in (a, b))
    difference = abs(means[a] - means[b])
    better = min(means, key=means.get) if difference > spread else NO_DIFFERENCE
    return {"means": means, "difference": difference, "spread": spread, "better": better}


def _stated(conclusion: object) -> dict:
    if not isinstance(conclusion, dict) or any(
        k not in conclusion for k in ("better", "difference", "spread")
    ):
        raise CheckFailed(
            "my_conclusion(result) must return a dict with 'better', 'difference' and 'spread'",
            "'better': an arm's name or 'no clear difference'; 'difference' and 'spread' in bits "
            "per character",
        )
    for key in ("difference", "spread"):
        if isinstance(conclusion[key], bool) or not isinstance(conclusion[key], int | float):
            raise CheckFailed(
                f"'{key}' must be a number (bits per character)", f"compute '{key}' from result"
            )
    return conclusion


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
    stated, data = _stated(my_conclusion(result)), recompute(result)
    for key in ("difference", "spread"):
        if abs(stated[key] - data[key]) > TOLERANCE:
            raise CheckFailed(
                f"the {key} you state, {stated[key]:.2f} bits, is not what your runs give: {data[key]:.2f}",
                "take your numbers from your own result (result.heldout(arm_name)), not from a lesson or "
                "another run: difference = |mean of one arm - mean of the other|, spread = the larger "
                "range (max - min) over seeds of the two arms",
            )
    better, names = stated["better"], [arm.name for arm in result.config.arms]
    if better not in [*names, NO_DIFFERENCE]:
        raise CheckFailed(f"'better' is {better!r}", f"name one of your arms, {names}, or {NO_DIFFERENCE!r}")
    means = ", ".join(f"{n} {m:.2f}" for n, m in data["means"].items())
    if better != data["better"] and data["better"] == NO_DIFFERENCE:
        raise CheckFailed(
            f"you call {better!r} better, but the difference {data['difference']:.2f} is no larger than "
            f"the spread over seeds {data['spread']:.2f}",
            f"a difference inside the seeds' spread is {NO_DIFFERENCE!r} (means: {means} bits)",
        )
    if better != data["better"]:
        raise CheckFailed(
            f"your conclusion contradicts your data: {data['better']!r} has the lower mean held-out loss "
            f"({means} bits; lower is better), by {data['difference']:.2f}, more than the spread "
            f"{data['spread']:.2f}",
            "state what your numbers show, even if it is not what you expected",
        )
    return f"{better}, difference {data['difference']:.2f} bits against a spread of {data['spread']:.2f}"
