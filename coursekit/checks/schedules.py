"""Check for the learner's warm-up schedule: ``warmup_lr(step, base_lr, warmup_steps)``.

The reference is the trainer's own ``coursekit.training.lr_factor`` (linear warm-up from
``base_lr / warmup_steps`` at step 0 to ``base_lr`` at step ``warmup_steps - 1``, then
constant), so what the learner writes is what the experiments use.
"""

from __future__ import annotations

import math

from ..training import TrainConfig, lr_factor
from .core import CheckFailed, as_float, check, require_function

BASE_LR = 0.1
CASES = [(0, 5), (1, 5), (4, 5), (5, 5), (9, 5), (0, 1), (3, 1), (0, 10), (9, 10), (20, 10)]

HINTS = {
    "not_number": "return the learning rate as a Python number (float)",
    "starts_at_zero": "at step 0 the rate is 0 and the first step is wasted: use (step + 1) / warmup_steps",
    "no_cap": "after the warm-up the rate stays at base_lr: cap the factor at 1 (min(1.0, ...))",
    "no_warmup": "with warmup_steps=0 there is no warm-up: return base_lr at every step",
    "base_lr": "scale by base_lr: the factor goes from 1 / warmup_steps up to 1, times base_lr",
    "ends_early": "the rate reaches base_lr one step early: at step s it is base_lr * (s + 1) / "
    "warmup_steps, "
    "so base_lr is first reached at step warmup_steps - 1",
    "constant": "the rate must ramp up during the warm-up: base_lr * (step + 1) / warmup_steps for "
    "step < warmup_steps",
    "ends_late": "the rate reaches base_lr late: at step s it is base_lr * (s + 1) / warmup_steps, "
    "so base_lr is first reached at step warmup_steps - 1",
    "decays": "after the warm-up the rate stays at base_lr: this exercise has no decay",
    "not_linear": "the warm-up is linear: base_lr * (step + 1) / warmup_steps, not a curve",
    "recipe": "compare your formula with the warm-up rule above at steps 0, warmup_steps - 1 and "
    "warmup_steps",
}


def _reference(step: int, warmup_steps: int) -> float:
    return BASE_LR * lr_factor(
        step, TrainConfig(steps=max(step, warmup_steps) + 1, warmup_steps=warmup_steps)
    )


def _value(fn: object, step: int, warmup_steps: int) -> float:
    out = fn(step, BASE_LR, warmup_steps)  # type: ignore[operator]
    value = as_float(out)  # a 0-d tensor or a NumPy float is a number too
    if value is None:
        raise CheckFailed(f"warmup_lr returned {type(out).__name__}, not a number", HINTS["not_number"])
    return value


def _diagnose(got: dict[tuple[int, int], float]) -> str:
    def same(formula) -> bool:  # noqa: ANN001
        return all(math.isclose(v, formula(s, w), rel_tol=1e-6, abs_tol=1e-12) for (s, w), v in got.items())

    if same(lambda s, w: BASE_LR * min(1.0, s / w)):
        return HINTS["starts_at_zero"]
    if same(lambda s, w: BASE_LR * (s + 1) / w):
        return HINTS["no_cap"]
    if same(lambda s, w: min(1.0, (s + 1) / w)):
        return HINTS["base_lr"]
    if same(lambda s, w: BASE_LR):
        return HINTS["constant"]
    if same(lambda s, w: BASE_LR * min(1.0, (s + 1) / (w + 1))) or same(
        lambda s, w: BASE_LR * min(1.0, s / max(1, w - 1))
    ):
        return HINTS["ends_late"]
    if same(lambda s, w: BASE_LR * min(1.0, (s + 2) / w)) or same(
        lambda s, w: BASE_LR * min(1.0, (s + 1) / max(1, w - 1))
    ):
        return HINTS["ends_early"]
    warm = {k: v for k, v in got.items() if k[0] < k[1]}
    after = {k: v for k, v in got.items() if k[0] >= k[1]}
    ref = {k: _reference(*k) for k in got}
    if all(math.isclose(v, ref[k], rel_tol=1e-6) for k, v in warm.items()) and any(
        v < BASE_LR * (1 - 1e-6) for v in after.values()
    ):
        return HINTS["decays"]
    ends = all(
        math.isclose(v, ref[k], rel_tol=1e-6) for k, v in got.items() if k[0] in (k[1] - 1,) or k[0] >= k[1]
    )
    if ends and any(not math.isclose(v, ref[k], rel_tol=1e-6) for k, v in warm.items()):
        return HINTS["not_linear"]
    return HINTS["recipe"]


@check("warmup")
def check_warmup(warmup_lr: object) -> None:
    """Check ``warmup_lr(step, base_lr, warmup_steps) -> float`` (``step`` counts from 0)."""
    require_function(warmup_lr, "warmup_lr", "check_warmup")
    got = {(s, w): _value(warmup_lr, s, w) for s, w in CASES}
    wrong = [(s, w) for (s, w), v in got.items() if not math.isclose(v, _reference(s, w), rel_tol=1e-6)]
    if wrong:
        s, w = wrong[0]
        raise CheckFailed(
            f"warmup_lr({s}, {BASE_LR}, {w}) = {got[s, w]:.6g}, expected {_reference(s, w):.6g}",
            _diagnose(got),
        )
    try:
        flat = [_value(warmup_lr, s, 0) for s in (0, 7)]
    except ZeroDivisionError:
        raise CheckFailed("warmup_lr(step, base_lr, 0) divides by zero", HINTS["no_warmup"]) from None
    if not all(math.isclose(v, BASE_LR, rel_tol=1e-6) for v in flat):
        raise CheckFailed(
            f"with warmup_steps=0 the rates are {flat}, expected {BASE_LR} each", HINTS["no_warmup"]
        )
