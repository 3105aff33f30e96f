"""The machinery every check shares: the result, the sub-check runner, printing, recording.

A check is ``check_<thing>(learner_object)``. Its body is a sequence of sub-checks, each of
which raises :class:`CheckFailed` with a message and a hint when the learner's code falls
short; :func:`check` wraps the body so that it seeds itself, never raises at the learner,
prints one ✅/❌ line, records the result (for ``coursekit grade`` and the progress file)
and returns a :class:`CheckResult`.

Exceptions from the learner's code are sorted, not shown as tracebacks: a stub's
``NotImplementedError`` reads "not attempted"; anything else is two lines, the error and
the learner's line that raised it.
"""

from __future__ import annotations

import functools
import json
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..course.progress import record_result
from ..seeding import seed_everything

PASSED, FAILED, NOT_ATTEMPTED, ERROR = "passed", "failed", "not attempted", "error"
SEED = 0

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
_RECORD: list[CheckResult] = []  # results since the grader last drained them


class CheckFailed(Exception):
    """Raised by a sub-check: ``message`` says what is wrong, ``hint`` the likely cause."""

    def __init__(self, message: str, hint: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.message, self.hint, self.detail = message, hint, detail


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check. ``passed`` is the one bit the grader and progress use."""

    name: str
    status: str  # passed | failed | not attempted | error
    message: str
    hint: str = ""
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def __str__(self) -> str:
        lines = [f"{'✅' if self.passed else '❌'} {self.name}: {self.message}"]
        lines += [f"   {line}" for line in (self.detail.splitlines() if self.detail else [])]
        if self.hint:
            lines.append(f"   hint: {self.hint}")
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's value: the check has already printed its line."""

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "passed": self.passed}


def learner_line(exc: BaseException) -> str:
    """``line N: source`` of the innermost frame outside coursekit and installed packages."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(_PACKAGE_DIR)
        and "site-packages" not in f.filename
        and "/lib/python3" not in f.filename
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f"line {frame.lineno}: {(frame.line or '').strip()}"


def _from_exception(name: str, exc: Exception) -> CheckResult:
    if isinstance(exc, CheckFailed):
        return CheckResult(name, FAILED, exc.message, exc.hint, exc.detail)
    if isinstance(exc, NotImplementedError):
        return CheckResult(
            name, NOT_ATTEMPTED, "not attempted yet (your code still raises NotImplementedError)"
        )
    text = str(exc).strip().splitlines()
    return CheckResult(
        name,
        ERROR,
        f"your code raised {type(exc).__name__}: {text[0] if text else ''}",
        detail=learner_line(exc),
    )


def _keep(result: CheckResult) -> None:
    """Keep the result for the grader and write a pass to the progress file."""
    _RECORD.append(result)
    record_result(result.name, result.passed)


def drain(nonce: str | None = None) -> str:
    """Forget the recorded results; with a ``nonce``, return them as one line the grader reads.

    ``coursekit grade`` calls this in the kernel right after each pristine check cell, with a
    nonce the learner's notebook never sees, so printing a fake result cannot score.
    """
    results = [r.to_json() for r in _RECORD]
    _RECORD.clear()
    return "" if nonce is None else f"{nonce} {json.dumps(results)}"


def check(name: str) -> Callable[[Callable[..., str | None]], Callable[..., CheckResult]]:
    """Make a check from a body of sub-checks: seeded, printed, recorded, never raising.

    The body raises :class:`CheckFailed` at the first sub-check that fails; it may return a
    message to show instead of "passed". ``record=False`` (keyword only) prints the verdict
    without keeping it, for demonstrations that must not count as the learner's progress.
    """

    def wrap(body: Callable[..., str | None]) -> Callable[..., CheckResult]:
        @functools.wraps(body)
        def run(*args: object, record: bool = True, **kwargs: object) -> CheckResult:
            seed_everything(SEED)
            try:
                result = CheckResult(name, PASSED, body(*args, **kwargs) or "passed")
            except Exception as exc:  # noqa: BLE001 - a check reports, it never raises
                result = _from_exception(name, exc)
            print(result)
            if record:
                _keep(result)
            return result

        return run

    return wrap


SHARED_HINTS = {
    "in_place": "your forward changed its input; compute a new tensor (x = x + ...) "
    "instead of x += ..., x -= ... or x.add_(...)",
    "shape": "return a tensor of the input's shape: reduce with keepdim=True (x.mean(-1, keepdim=True)) "
    "and do not reshape",
    "tuple": "return a single tensor; nn.MultiheadAttention returns (output, weights): keep the output, [0]",
    "not_tensor": "forward must return a tensor",
    "dtype": "do not convert the dtype: build any constants with x's dtype",
    "finite": "the output has NaN or Inf: is eps added before the square root, is anything divided by zero?",
}


def require_class(cls: object, name: str, check_name: str) -> type:
    """Sub-check: the learner passed a class derived from ``nn.Module`` (not an instance)."""
    if isinstance(cls, nn.Module):
        raise CheckFailed(
            f"got an instance of {type(cls).__name__}, not a class",
            f"pass the class itself: {check_name}({name}), without calling it",
        )
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise CheckFailed(
            f"expected a class derived from torch.nn.Module, got {cls!r}",
            f"define `class {name}(nn.Module):` and pass it to the check",
        )
    return cls


def require_function(fn: object, name: str, check_name: str) -> None:
    """Sub-check: the learner passed a function (the function itself, not its result)."""
    if not callable(fn):
        raise CheckFailed(
            f"expected a function, got {fn!r}", f"pass the function itself: {check_name}({name})"
        )


def call_forward(module: nn.Module, x: torch.Tensor, *args: object) -> torch.Tensor:
    """Sub-checks on one call: returns a tensor of x's shape and dtype, finite, x untouched."""
    before = x.clone()
    y = module(x, *args)
    if not isinstance(y, torch.Tensor):
        hint = SHARED_HINTS["tuple" if isinstance(y, (tuple, list)) else "not_tensor"]
        raise CheckFailed(f"forward returned {type(y).__name__}, not a tensor", hint)
    if not torch.equal(x, before):
        raise CheckFailed("forward modified its input in place", SHARED_HINTS["in_place"])
    if y.shape != x.shape:
        raise CheckFailed(
            f"output shape {tuple(y.shape)}, expected {tuple(x.shape)} (the input's)", SHARED_HINTS["shape"]
        )
    if y.dtype != x.dtype:
        raise CheckFailed(f"output dtype {y.dtype}, expected {x.dtype} (the input's)", SHARED_HINTS["dtype"])
    if not torch.isfinite(y).all():
        raise CheckFailed("output contains NaN or Inf", SHARED_HINTS["finite"])
    return y


def compare(y: torch.Tensor, expected: torch.Tensor, what: str, hint: str = "") -> None:
    """Sub-check: ``y`` equals ``expected`` by ``torch.testing.assert_close``; show where it does not."""
    if not close(y.detach(), expected.detach()):
        raise CheckFailed(
            f"{what} differs from the reference",
            hint or "compare your formula with the one above, step by step, on a small input",
            first_difference(y, expected),
        )


def match_bug(y: torch.Tensor, candidates: dict[str, torch.Tensor]) -> str:
    """The first known bug whose output ``y`` reproduces, or ``""``."""
    return next((bug for bug, wrong in candidates.items() if close(y.detach(), wrong.detach())), "")


def first_difference(actual: torch.Tensor, expected: torch.Tensor, count: int = 3) -> str:
    """The first few positions where two same-shaped tensors differ, for the ❌ line."""
    diff = (actual.detach().double() - expected.detach().double()).abs()
    tol = 1e-5 + 1.3e-6 * expected.detach().double().abs()
    where = (diff > tol) | ~torch.isfinite(actual.detach())
    positions = where.nonzero()[:count].tolist()
    parts = [
        f"at {tuple(p)}: got {actual[tuple(p)].item():.6g}, expected {expected[tuple(p)].item():.6g}"
        for p in positions
    ]
    return "; ".join(parts)


def close(actual: torch.Tensor, expected: torch.Tensor, **tolerance: float) -> bool:
    """True when ``torch.testing.assert_close`` accepts the pair (shapes must match exactly)."""
    try:
        torch.testing.assert_close(actual, expected, **tolerance)
    except (AssertionError, TypeError, ValueError, RuntimeError):
        return False
    return True
