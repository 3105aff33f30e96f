"""The forging guard: the code the grader runs inside each learner's kernel, before any learner code.

The kernel is never made to import this module: the grader sends its source in its setup cell
(:func:`coursekit.course.grade.kernel.setup_source`), which runs it in a namespace of its own and
keeps only the guard, in a ``sys.modules`` entry with a random name. What it defends against, and
what not: the package's docstring (:mod:`coursekit.course.grade`).

Everything the guard uses once learner code has run is bound in closures when it is made, never
looked up in this module's globals (a learner can reach ``guard.__globals__`` without a word the
source scan flags; closures need ``__closure__``, which it flags). Globals are read at set-up only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

# the standard-library modules the checks use: their functions and classes are watched too
STDLIB = (
    "builtins", "json", "hashlib", "hmac", "math", "inspect", "functools", "dataclasses", "traceback",
    "linecache", "textwrap", "random", "copy", "contextlib", "types", "re", "operator", "os", "io",
    "collections", "abc", "warnings", "typing", "numpy", "numpy.random",
)  # fmt: skip
OURS = ("coursekit", "torch")  # every attribute of their modules' classes is watched too
# what the checks and this guard use, imported before the snapshot so that it is watched
PRELOAD = (
    "builtins", "hashlib", "hmac", "io", "json", "os", "types", "torch.autograd", "torch.nn.functional",
    "torch.overrides", "torch.testing", "coursekit.checks.core",
)  # fmt: skip
IGNORE = frozenset({"__warningregistry__", "__builtins__"})


def read_key(path: str) -> bytes:
    """The signing key, from a file the grader wrote and this removes: never in a cell's source."""
    import os

    with open(path, encoding="ascii") as f:
        key = bytes.fromhex(f.read())
    os.remove(path)
    return key


def _watched(name: str) -> bool:
    return name in STDLIB or name.split(".")[0] in OURS


def _putter(d: dict, missing: object) -> Callable[[str, object], None]:
    """Puts a value back into a module's namespace (``missing``: deletes it)."""

    def put(k: str, v: object) -> None:
        if v is missing:
            d.pop(k, None)
        else:
            d[k] = v

    return put


def _class_putter(cls: type, missing: object) -> Callable[[str, object], None]:
    """Puts an attribute back on a class (``missing``: deletes it)."""

    def put(k: str, v: object) -> None:
        if v is missing:
            delattr(cls, k)
        else:
            setattr(cls, k, v)

    return put


def snapshot(missing: object) -> list[tuple]:
    """Every watched namespace as ``(label, namespace, put, snapshot, is_ours)``, by object identity:
    the watched modules, the classes defined in coursekit's and torch's modules, ``sys.modules``."""
    import sys
    import types
    import warnings

    spaces: list[tuple] = []
    seen_classes: set[int] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reading some torch modules' attributes warns
        for name, mod in list(sys.modules.items()):
            if mod is None or not _watched(name) or not isinstance(mod, types.ModuleType):
                continue
            d = vars(mod)
            ours = name.split(".")[0] in OURS
            spaces.append((name, d, _putter(d, missing), dict(d), ours or name == "builtins"))
            if not ours:
                continue
            for v in list(d.values()):
                if isinstance(v, type) and v.__module__ == name and id(v) not in seen_classes:
                    seen_classes.add(id(v))
                    label = f"{name}.{v.__qualname__}"
                    spaces.append((label, v.__dict__, _class_putter(v, missing), dict(v.__dict__), True))
    modules = {n: m for n, m in sys.modules.items() if m is not None and _watched(n)}
    spaces.append(("sys.modules", sys.modules, _putter(sys.modules, missing), modules, True))
    return spaces


def _differ(spaces: list[tuple], missing: object) -> Callable[[], list[tuple]]:
    """``differences()``: every watched name now bound to another object than in the snapshot, as
    ``(label, put, name, old, new)``. Strict in the checks, the grader and ``sys.modules``; elsewhere
    functions, classes and modules only (torch and the experiments change plain data as they run)."""
    import os
    import types

    import torch

    torch_dir = os.path.dirname(torch.__file__) + os.sep
    ignore = IGNORE

    def wraps_original(old: object, new: object) -> bool:
        """torch's own wrapping of its functions (torch.manual_seed once dynamo loads, an
        optimizer's step at its first use): code inside torch, ``__wrapped__`` leading to the original."""
        fn = getattr(new, "__func__", new)
        code = getattr(getattr(fn, "__code__", None), "co_filename", "")
        if not code.startswith(torch_dir):
            return False
        for _ in range(8):
            fn = getattr(fn, "__wrapped__", None)
            if fn is None:
                return False
            if fn is old or getattr(fn, "__func__", None) is old:
                return True
        return False

    def differences() -> list[tuple]:
        out = []
        for label, d, put, snap, _is_ours in spaces:
            strict = label == "sys.modules" or label.startswith(  # a literal: never a global to patch
                ("coursekit.checks", "coursekit.course", "coursekit.work")
            )
            for k, old in list(snap.items()):
                new = d.get(k, missing)
                if new is old or k in ignore:
                    continue
                if strict or callable(old) or isinstance(old, types.ModuleType):
                    if wraps_original(old, new):
                        snap[k] = new  # adopt torch's own wrapper as the original
                        continue
                    out.append((label, put, k, old, new))
        return out

    return differences


def _signer(key: bytes, folder: str) -> Callable[[int, str, dict], None]:
    """``write(call, nonce, report)``: the report, signed (HMAC-SHA256 over nonce + payload), to
    ``folder/<call>.json``, replaced atomically so the grader never reads half a file."""
    import hashlib
    import hmac
    import json
    import os

    def write(call: int, nonce: str, report: dict) -> None:
        payload = json.dumps(report)
        sign = hmac.new(key, (nonce + payload).encode(), hashlib.sha256).hexdigest()
        path = os.path.join(folder, f"{call}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(sign + "\n" + payload)
        os.replace(path + ".tmp", path)

    return write


def _runner(user_ns: dict, checks: dict, differences: Callable[[], list[tuple]]) -> Callable:
    """``run(source, flags)``: a pristine check cell's source with the original checks bound to their
    names, on the learner's namespace copied; the results the checks recorded and the error it raised.
    A change made *while* it ran (a learner's forward patching the checks) fails its results."""
    import coursekit.checks.core as core

    record, result_type = core._RECORD, core.CheckResult

    def run(source: str, flags: list[str]) -> tuple[list[dict], dict | None]:
        error = None
        del record[:]
        namespace = dict(user_ns)
        namespace.update(checks)
        try:
            exec(compile(source, "<check cell>", "exec"), namespace)
        except Exception as exc:
            text = str(exc).strip().splitlines()
            error = {"ename": type(exc).__name__, "evalue": text[0] if text else ""}
        during = differences()
        results = [r.to_json() for r in list(record) if type(r) is result_type]
        del record[:]
        if during:
            what = ", ".join(f"{label}.{k}" for label, put, k, old, new in during[:3])
            flags.append(f"changed {what} while a check ran")
            for _label, put, k, old, _new in during:
                put(k, old)
            for r in results:
                r.update(
                    status="failed",
                    passed=False,
                    message=f"the checks were changed while they ran ({what})",
                    hint="a check must run unchanged; the instructor will look at this notebook",
                )
        return results, error

    return run


def _flags_for(changed: list[tuple], missing: object) -> list[str]:
    """What the learner's cells replaced or deleted (shadowing ``print`` or ``input`` is allowed)."""
    return [
        (f"{'deletes' if new is missing else 'replaces'} {label}.{k}")
        if label != "sys.modules"
        else f"replaces sys.modules[{k!r}]"
        for label, _put, k, _old, new in changed
        if not (label == "builtins" and k in ("print", "input"))
    ]


def make_guard(key: bytes, folder: str) -> Callable[[int, str, str], None]:
    """Snapshot the world now, before any learner code, and return ``guard(call, nonce, source)``.

    The guard notes what the learner changed (flags), puts the originals back, runs the pristine
    check ``source`` on them with the real stdout, writes the signed report for ``call``, and gives
    the learner's world back (its reports go to ``folder``, signed with ``key``).
    """
    import sys

    from IPython import get_ipython

    import coursekit.checks

    for name in PRELOAD:
        __import__(name)

    user_ns = get_ipython().user_ns
    missing = object()
    spaces = snapshot(missing)
    differences = _differ(spaces, missing)
    checks = {n: getattr(coursekit.checks, n) for n in dir(coursekit.checks) if n.startswith("check_")}
    run, write, flags_for = _runner(user_ns, checks, differences), _signer(key, folder), _flags_for
    real_out, real_err = sys.stdout, sys.stderr

    def guard(call: int, nonce: str, source: str) -> None:
        before = differences()
        flags = flags_for(before, missing)
        for _label, put, k, old, _new in before:
            put(k, old)
        for name, fn in checks.items():
            if name in user_ns and user_ns[name] is not fn and name in source:
                flags.append(f"redefines {name}")
        learner_out, learner_err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = real_out, real_err
        try:
            results, error = run(source, flags)
            write(call, nonce, {"results": results, "error": error, "flags": flags})
        finally:
            sys.stdout, sys.stderr = learner_out, learner_err
            for _label, put, k, _old, new in before:
                put(k, new)

    return guard
