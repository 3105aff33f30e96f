"""Check that a learner's own skip-versus-no-skip results show what lesson 5 measured.

The learner hands over training errors (%, one per seed) by depth and arm. The check does not
compare with a stored answer; it reads the results for the *effects* of the usual mistakes:
arms swapped, the two arms the same network, a depth too shallow to tell them apart, a
residual arm that fails too (the skip added in the wrong place, a rate too high, too few
steps), one seed only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .core import CheckFailed, check

ARMS = ("plain", "residual")

HINTS = {
    "format": 'pass {depth: {"plain": [error % per seed], "residual": [error % per seed]}}, '
    "one entry per depth you trained",
    "depths": "train at two or more depths: one shallow (2-4 blocks) and one deep (12 or more blocks)",
    "seeds": "train every arm with two or more seeds, so a difference is not one lucky initialisation",
    "percent": "report the error in percent (100 * error_rate(...)), not as a fraction",
    "same": "the two arms gave the same numbers: they are the same network. Does ResidualStack's block "
    "add its input (x + ...)?",
    "swapped": "the plain arm beats the residual arm at depth: are the two arms swapped, or does your "
    "residual block add something other than its input?",
    "not_deep": "at your deepest depth the plain stack still trains as well as the residual one: go deeper "
    "(lesson 5 saw the plain error rise from about 12 blocks)",
    "residual_fails": "the residual stack fails too: is x added before the last ReLU, as relu(x + F(x))? "
    "Is the learning rate the lesson's (0.5) and are there enough steps (about 20 epochs)?",
    "shallow": "even your shallowest plain stack fails: train longer, or check the block's layers "
    "(Linear -> BatchNorm -> ReLU -> Linear -> BatchNorm)",
}


def _arms(results: object) -> dict[int, dict[str, list[float]]]:
    """The results as ``{depth: {arm: [errors]}}``, or a failure that says what shape was expected."""
    if not isinstance(results, Mapping) or not results:
        raise CheckFailed(
            f"expected a dict of results by depth, got {type(results).__name__}", HINTS["format"]
        )
    table = {}
    for depth, arms in results.items():
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise CheckFailed(f"the keys should be depths (positive ints), got {depth!r}", HINTS["format"])
        if not isinstance(arms, Mapping) or set(arms) != set(ARMS):
            got = sorted(arms) if isinstance(arms, Mapping) else type(arms).__name__
            raise CheckFailed(
                f"depth {depth}: expected the arms 'plain' and 'residual', got {got}", HINTS["format"]
            )
        table[depth] = {}
        for arm in ARMS:
            values = arms[arm]
            if isinstance(values, (int, float)) and not isinstance(values, bool):
                values = [values]
            if not isinstance(values, (list, tuple)) or not values:
                raise CheckFailed(
                    f"depth {depth}, {arm}: expected a list of errors, got {values!r}", HINTS["format"]
                )
            for v in values:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise CheckFailed(f"depth {depth}, {arm}: {v!r} is not a finite number", HINTS["format"])
                if not 0 <= v <= 100:
                    raise CheckFailed(
                        f"depth {depth}, {arm}: an error of {v} % is impossible", HINTS["percent"]
                    )
            table[depth][arm] = [float(v) for v in values]
    return table


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


@check("skip_results")
def check_skip_results(results: object) -> str:
    """Check ``{depth: {"plain": [...], "residual": [...]}}`` (training error in %, per seed)
    for the lesson's finding: the residual stack clearly better at depth, both fine when shallow."""
    table = _arms(results)
    if len(table) < 2:
        raise CheckFailed(f"results for {len(table)} depth; the comparison needs a curve", HINTS["depths"])
    if min(len(v) for arms in table.values() for v in arms.values()) < 2:
        raise CheckFailed("some arm was trained with one seed only", HINTS["seeds"])
    if all(arms["plain"] == arms["residual"] for arms in table.values()):
        raise CheckFailed("plain and residual gave identical errors at every depth", HINTS["same"])
    shallow, deep = min(table), max(table)
    plain_deep, residual_deep = _mean(table[deep]["plain"]), _mean(table[deep]["residual"])
    if residual_deep > plain_deep:
        raise CheckFailed(
            f"at {deep} blocks the residual stack's error ({residual_deep:.3g} %) is above the plain "
            f"stack's ({plain_deep:.3g} %)",
            HINTS["swapped"],
        )
    if _mean(table[shallow]["plain"]) > 10:
        raise CheckFailed(
            f"at {shallow} blocks the plain stack's error is {_mean(table[shallow]['plain']):.3g} %",
            HINTS["shallow"],
        )
    if residual_deep > 5:
        raise CheckFailed(
            f"at {deep} blocks the residual stack's error is {residual_deep:.3g} %", HINTS["residual_fails"]
        )
    if plain_deep < residual_deep + 5 or min(table[deep]["plain"]) <= max(table[deep]["residual"]):
        raise CheckFailed(
            f"at {deep} blocks: plain {plain_deep:.3g} %, residual {residual_deep:.3g} %, not clearly apart "
            "at every seed",
            HINTS["not_deep"],
        )
    return (
        f"at {deep} blocks the plain stack's training error is {plain_deep:.3g} % against the residual "
        f"stack's {residual_deep:.3g} % (at {shallow} blocks: {_mean(table[shallow]['plain']):.3g} % and "
        f"{_mean(table[shallow]['residual']):.3g} %): the lesson's degradation, measured by you"
    )
