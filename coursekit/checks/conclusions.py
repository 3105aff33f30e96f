"""A stated conclusion held to the learner's own numbers (exercises 5 and 7 share it).

Two arms, one number per seed each, lower is better. What the data say: the arm with the lower
mean, when the difference of the two means is larger than the spread over seeds (the larger of
the two arms' ranges); otherwise "no clear difference". A stated conclusion passes when its
difference and spread are the learner's own (recomputed here, within a rounding tolerance) and
its verdict is the data's; otherwise :func:`judge` fails naming the number that contradicts it.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .core import CheckFailed

NO_DIFFERENCE = "no clear difference"
STATED = ("better", "difference", "spread")


@dataclass(frozen=True)
class Measure:
    """What the arms' numbers measure, so that the hints name, print and round them right."""

    name: str  # "held-out loss": "<arm> has the lower mean <name>"
    unit: str  # printed after a number: "bits", "%"
    unit_long: str  # what 'difference' and 'spread' are in: "bits per character"
    source: str  # the learner's variable holding their runs: "result"
    access: str  # how the learner reads one arm's numbers from it: "result.heldout(arm_name)"
    tolerance: float  # a stated number this close to the recomputed one is the learner's own


def recompute(values: Mapping[str, Sequence[float]]) -> dict[str, object]:
    """Each arm's mean, the difference of the two means, the spread over seeds (the larger
    arm's range) and the better arm (the lower mean), or "no clear difference"."""
    means = {name: statistics.fmean(v) for name, v in values.items()}
    a, b = means
    difference = abs(means[a] - means[b])
    spread = max(max(v) - min(v) for v in values.values())
    better = min(means, key=means.get) if difference > spread else NO_DIFFERENCE
    return {"means": means, "difference": difference, "spread": spread, "better": better}


def read_stated(conclusion: object, what: str, measure: Measure) -> Mapping:
    """The stated conclusion, its shape checked: ``what`` says where it comes from, e.g.
    ``"my_conclusion(result) must return"``."""
    if not isinstance(conclusion, Mapping) or any(k not in conclusion for k in STATED):
        raise CheckFailed(
            f"{what} a dict with 'better', 'difference' and 'spread'",
            f"'better': an arm's name or {NO_DIFFERENCE!r}; 'difference' and 'spread' in {measure.unit_long}",
        )
    for key in ("difference", "spread"):
        if isinstance(conclusion[key], bool) or not isinstance(conclusion[key], int | float):
            raise CheckFailed(
                f"'{key}' must be a number ({measure.unit_long})", f"compute '{key}' from {measure.source}"
            )
    return conclusion


def judge(stated: Mapping, data: dict, measure: Measure, at: str = "", inside_spread: str = "") -> None:
    """Fail unless ``stated`` (read by :func:`read_stated`) is what ``data`` (from
    :func:`recompute`) show. ``at`` prefixes each message ("at 12 blocks, "); ``inside_spread``
    adds to the hint when a difference inside the spread was called a win (why it is none)."""
    unit = measure.unit
    for key in ("difference", "spread"):
        if abs(stated[key] - data[key]) > measure.tolerance:
            raise CheckFailed(
                f"{at}the {key} you state, {stated[key]:.2f} {unit}, is not what your runs give: "
                f"{data[key]:.2f}",
                f"take your numbers from your own {measure.source} ({measure.access}), not from a lesson "
                "or another run: difference = |mean of one arm - mean of the other|, spread = the larger "
                "range (max - min) over seeds of the two arms",
            )
    better, names = stated["better"], list(data["means"])
    if better not in [*names, NO_DIFFERENCE]:
        hint = f"name one of your arms, {names}, or {NO_DIFFERENCE!r}"
        raise CheckFailed(f"{at}'better' is {better!r}", hint)
    means = ", ".join(f"{n} {m:.2f}" for n, m in data["means"].items())
    if better != data["better"] and data["better"] == NO_DIFFERENCE:
        raise CheckFailed(
            f"{at}you call {better!r} better, but the difference {data['difference']:.2f} is no larger than "
            f"the spread over seeds {data['spread']:.2f}",
            f"a difference inside the seeds' spread is {NO_DIFFERENCE!r} (means: {means} {unit})"
            + (f". {inside_spread[:1].upper()}{inside_spread[1:]}" if inside_spread else ""),
        )
    if better != data["better"]:
        raise CheckFailed(
            f"{at}your conclusion contradicts your data: {data['better']!r} has the lower mean "
            f"{measure.name} ({means} {unit}; lower is better), by {data['difference']:.2f}, more than "
            f"the spread {data['spread']:.2f}",
            "state what your numbers show, even if it is not what you expected",
        )
