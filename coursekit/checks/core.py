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

import contextlib
import contextvars
import functools
import inspect
import json
import numbers
import random
import textwrap
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..seeding import seed_everything, torch_threads
from ..work.layout import ERROR, FAILED, NOT_ATTEMPTED, PASSED, result_symbol
from ..work.progress import record_result

SEED = 0
WIDTH = 88  # hints are wrapped at word boundaries, so JupyterLab never breaks a word

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
_RECORD: list[CheckResult] = []  # results since the grader last drained them
# a demonstration (record=False) may show the course's own reference classes passing
_DEMONSTRATION = contextvars.ContextVar("coursekit_check_demonstration", default=False)


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
        # the word beside the symbol, unless the message starts with it: an emoji can render as a box
        said = self.message.startswith((self.status, "correct")) or (self.passed and "passed" in self.message)
        word = "" if said else f" {self.status}"
        lines = textwrap.wrap(
            f"{result_symbol(self.status)} {self.name}{word}: {self.message}", WIDTH, subsequent_indent="   "
        )
        lines += [
            f"   {line}" for line in (self.detail.splitlines() if self.detail else [])
        ]  # code: never wrapped
        if self.hint:
            lines += textwrap.wrap(f"hint: {self.hint}", WIDTH, initial_indent="   ", subsequent_indent="   ")
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
    if not learner_line(exc):  # raised by the check's own call: the contract is not met, say which part
        return CheckResult(
            name,
            FAILED,
            f"your code does not fit the check's contract ({type(exc).__name__}: {text[0] if text else ''})",
            "compare your class's constructor, attribute names and return values with the contract "
            "stated above the exercise",
        )
    return CheckResult(
        name,
        ERROR,
        f"your code raised {type(exc).__name__}: {text[0] if text else ''}",
        detail=learner_line(exc),
    )


def _keep(result: CheckResult) -> None:
    """Keep the result for the grader and write it to the progress file."""
    _RECORD.append(result)
    record_result(result.name, result.passed, status=result.status, hint=result.hint)


@contextlib.contextmanager
def own_random_stream(seed: int = SEED) -> Iterator[None]:
    """Run the body on its own seeded random streams; the learner's are as before afterwards.

    ``torch.random.fork_rng`` for PyTorch (CPU; CUDA devices too when there are any), and
    Python's and NumPy's global generators saved and restored around it.
    """
    python_state = random.getstate()
    numpy_state = None
    with contextlib.suppress(ImportError):
        import numpy

        numpy_state = numpy.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            seed_everything(seed)
            if numpy_state is not None:
                numpy.random.seed(seed)
            yield
    finally:
        random.setstate(python_state)
        if numpy_state is not None:
            numpy.random.set_state(numpy_state)


def drain(nonce: str | None = None) -> str:
    """Forget the recorded results; with a ``nonce``, return them as one line the grader reads.

    ``coursekit grade`` calls this in the kernel right after each pristine check cell, with a
    nonce the learner's notebook never sees, so printing a fake result cannot score.
    """
    results = [r.to_json() for r in _RECORD]
    _RECORD.clear()
    return "" if nonce is None else f"{nonce} {json.dumps(results)}"


def check(name: str) -> Callable[[Callable[..., str | None]], Callable[..., CheckResult]]:
    """Make a check from a body of sub-checks: seeded, printed, recorded, never raising; on one
    PyTorch thread (its inputs are small: one thread is as fast, never fights a busy machine's
    other work, and adds sums in the same order on every machine), the learner's count restored.

    The body raises :class:`CheckFailed` at the first sub-check that fails; it may return a
    message to show instead of "passed". ``record=False`` (keyword only) prints the verdict
    without keeping it, for demonstrations that must not count as the learner's progress
    (and the grader never sees): there the course's own reference classes may pass a
    "from scratch" check, so a lesson can show what a correct answer gets.
    """

    def wrap(body: Callable[..., str | None]) -> Callable[..., CheckResult]:
        @functools.wraps(body)
        def run(*args: object, record: bool = True, **kwargs: object) -> CheckResult:
            demonstration = _DEMONSTRATION.set(not record)
            try:
                with own_random_stream(), _grad_mode_kept(), torch_threads(1):
                    result = CheckResult(name, PASSED, body(*args, **kwargs) or "passed")
            except Exception as exc:  # noqa: BLE001 - a check reports, it never raises
                result = _from_exception(name, exc)
            finally:
                _DEMONSTRATION.reset(demonstration)
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
    "random": "the output should depend on the input only: is there dropout (with training=True), "
    "torch.rand or state that changes from call to call?",
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


def call_forward(module: nn.Module, x: torch.Tensor, *args: object, shape_hint: str = "") -> torch.Tensor:
    """Sub-checks on one call: returns a tensor of x's shape and dtype, finite, x untouched,
    the same output when called again. ``shape_hint`` replaces the usual hint for a wrong shape."""
    before = x.clone()
    y = module(x, *args)
    if not isinstance(y, torch.Tensor):
        hint = SHARED_HINTS["tuple" if isinstance(y, (tuple, list)) else "not_tensor"]
        raise CheckFailed(f"forward returned {type(y).__name__}, not a tensor", hint)
    if not torch.equal(x, before):
        raise CheckFailed("forward modified its input in place", SHARED_HINTS["in_place"])
    if y.shape != x.shape:
        raise CheckFailed(
            f"output shape {tuple(y.shape)}, expected {tuple(x.shape)} (the input's)",
            shape_hint or SHARED_HINTS["shape"],
        )
    if y.dtype != x.dtype:
        raise CheckFailed(f"output dtype {y.dtype}, expected {x.dtype} (the input's)", SHARED_HINTS["dtype"])
    if not torch.isfinite(y).all():
        raise CheckFailed("output contains NaN or Inf", SHARED_HINTS["finite"])
    with torch.no_grad():
        again = module(x.clone(), *args)
    if isinstance(again, torch.Tensor) and again.shape == y.shape and not close(again, y.detach()):
        raise CheckFailed(
            "forward gives a different output each time on the same input", SHARED_HINTS["random"]
        )
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
    return next(
        (
            bug
            for bug, wrong in candidates.items()
            if isinstance(wrong, torch.Tensor) and close(y.detach(), wrong.detach())
        ),
        "",
    )


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


@contextlib.contextmanager
def _grad_mode_kept() -> Iterator[None]:
    """Gradients on for the check, and the learner's grad mode and default dtype as before."""
    dtype = torch.get_default_dtype()
    with torch.enable_grad():
        torch.set_default_dtype(torch.float32)
        try:
            yield
        finally:
            torch.set_default_dtype(dtype)


@contextlib.contextmanager
def clause(description: str, hint: str, learner_too: bool = False) -> Iterator[None]:
    """A step of the check that relies on one clause of the contract.

    An exception raised with no line of the learner's code in its traceback came from the
    check's own call on an object that does not fit the contract: it becomes a failure naming
    the clause, never "your code raised". A learner's own exception passes through, unless
    ``learner_too``: then it is that clause's failure too, with the learner's line as detail
    (for inputs built to expose one mistake, where the hint says more than the error).
    """
    try:
        yield
    except CheckFailed:
        raise
    except NotImplementedError:
        raise
    except Exception as exc:
        line = learner_line(exc)
        if line and not learner_too:
            raise
        text = str(exc).strip().splitlines()
        raise CheckFailed(
            f"{description} ({type(exc).__name__}: {text[0] if text else ''})", hint, line
        ) from None


def construct(cls: type, name: str, signature: str, *args: object, **kwargs: object) -> nn.Module:
    """Build ``cls(*args, **kwargs)``; a constructor that cannot take them names the clause broken."""
    try:
        inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as exc:
        raise CheckFailed(
            f"the contract says {signature}; {name}{_call_text(args, kwargs)} does not fit ({exc})",
            f"give the constructor exactly the contract's arguments and defaults: {signature}",
        ) from None
    except ValueError:  # no signature to read: just try
        pass
    return cls(*args, **kwargs)


def extra_parameters(module: nn.Module, allowed: Callable[[str], bool]) -> list[str]:
    """The names of ``module``'s parameters that no ``allowed`` name reaches, sorted.

    Judged by identity: a parameter reachable under several names (layers kept in an
    ``nn.Sequential`` and also named ``fc1``, ``fc2``) is one parameter, and it belongs to the
    contract when any of its names does. ``named_parameters()`` alone keeps only the first name.
    """
    names: dict[int, list[str]] = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(name)
    return sorted(found[0] for found in names.values() if not any(allowed(n) for n in found))


def _call_text(args: tuple, kwargs: dict) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"({', '.join(parts)})"


FROM_SCRATCH = (
    "this exercise is from scratch: write the computation yourself with tensor operations; "
    "do not subclass, wrap or call {what}"
)


class _OpsSeen(TorchFunctionMode):
    """Records the name of every torch function called inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        self.seen.add(getattr(func, "__name__", ""))
        return func(*args, **(kwargs or {}))


def require_from_scratch(
    obj: object,
    forbidden: tuple[type, ...],
    what: str,
    run: Callable[[], object] | None = None,
    ops: frozenset[str] = frozenset(),
) -> None:
    """Sub-check: ``obj`` (a class, instance or function) is not, does not subclass and does not
    wrap any of the ``forbidden`` classes; and ``run()``, if given, calls none of the torch
    functions named in ``ops`` (e.g. ``layer_norm``), which is how a module that calls
    ``F.layer_norm`` or holds a ``torch.nn.LayerNorm`` somewhere is found by its effect.
    """
    hint = FROM_SCRATCH.format(what=what)
    if _DEMONSTRATION.get():  # record=False: the course's reference may be shown passing; torch's never
        forbidden = tuple(c for c in forbidden if not c.__module__.startswith("coursekit"))
    cls = obj if isinstance(obj, type) else type(obj)
    if obj in forbidden or (isinstance(cls, type) and issubclass(cls, forbidden) and cls is not object):
        raise CheckFailed(f"this is (a subclass of) {what}, not your own implementation", hint)
    if isinstance(obj, nn.Module):
        for name, sub in obj.named_modules():
            if isinstance(sub, forbidden):
                raise CheckFailed(f"`{name}` is a {type(sub).__name__}: your module wraps {what}", hint)
    if run is not None and ops:
        with _OpsSeen() as seen:
            run()
        used = sorted(seen.seen & ops)
        if used:
            raise CheckFailed(f"forward calls torch's own {', '.join(used)}", hint)


def as_float(value: object) -> float | None:
    """A Python float from an int, float, 0-d tensor or NumPy scalar; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, torch.Tensor):
        return float(value.item()) if value.numel() == 1 and value.dim() <= 1 else None
    if isinstance(value, numbers.Real):  # int, float, Fraction, NumPy floats ...
        return float(value)
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) in ((), (1,)):
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    return None


def gradients(
    module: nn.Module, x: torch.Tensor, names: list[str] | None = None
) -> tuple[torch.Tensor | None, list[torch.Tensor | None]]:
    """Gradients of ``sum(module(x)**2)`` with respect to ``x`` and the named parameters.

    Uses ``torch.autograd.grad``, so no ``.grad`` is filled; a part the output does not depend
    on gives None. An output with no graph at all gives None everywhere.
    """
    x = x.detach().clone().requires_grad_()
    params = [module.get_parameter(n) for n in (names or [])]
    y = module(x)
    if not isinstance(y, torch.Tensor) or not y.requires_grad:
        return None, [None] * len(params)
    grads = torch.autograd.grad(y.pow(2).sum(), [x, *params], allow_unused=True)
    return grads[0], list(grads[1:])


def compare_gradients(
    module: nn.Module, reference_module: nn.Module, x: torch.Tensor, names: list[str], hint: str
) -> None:
    """Sub-check: input and parameter gradients match the reference's (``names`` in both)."""
    mine_x, mine = gradients(module, x, names)
    ref_x, ref = gradients(reference_module, x, names)
    for label, g, r in zip(["input", *names], [mine_x, *mine], [ref_x, *ref], strict=True):
        if r is None:
            continue
        if g is None or not close(g, r, rtol=1e-4, atol=1e-5):
            what = "does not reach" if g is None else "is wrong for"
            raise CheckFailed(f"the gradient {what} the {label}", hint)


def mode_and_grads_kept(module: nn.Module, call: Callable[[], object], what: str) -> None:
    """Sub-check: ``call()`` leaves ``module``'s train/eval mode and every ``.grad`` as they were."""
    training = [m.training for m in module.modules()]
    grads = [None if p.grad is None else p.grad.clone() for p in module.parameters()]
    call()
    if [m.training for m in module.modules()] != training:
        raise CheckFailed(
            f"{what} changed the model's train/eval mode",
            "leave the model as you found it: note model.training first and put it back "
            "(model.train(was_training)) if you switch to eval()",
        )
    for p, before in zip(module.parameters(), grads, strict=True):
        if (p.grad is None) != (before is None) or (before is not None and not torch.equal(p.grad, before)):
            raise CheckFailed(f"{what} changed the parameters' .grad", _LEFT_GRAD)


_LEFT_GRAD = (
    "a probe leaves no trace: use torch.autograd.grad(loss, params), not loss.backward(), which "
    "fills (or adds to) .grad"
)
