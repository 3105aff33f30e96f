"""``coursekit grade NOTEBOOK_OR_FOLDER...``: score learners' exercise notebooks, for instructors.

An instructor who grades a class of 100 notebooks will not read them, so a score has to be
right on its own. How each notebook is graded:

1. **Read, never written.** The notebook (nbformat 4 or 3) is read; a file that cannot be read
   is reported on its own line and the rest of the class is graded (exit status 1).
2. **Pristine check cells, found robustly.** Each check cell of the matching exercise is found
   in the learner's notebook by cell id, else by content (the same check calls: a notebook
   whose cells were pasted into a new one, or saved as nbformat 3, has other ids or none),
   and replaced by the pristine cell; a deleted one is put back after the nearest exercise
   cell the learner still has. A learner's own cell that calls a check is just code.
3. **The guard, before any learner code.** A fresh kernel first runs the grader's own setup
   cell (not stored in the kernel's input history): it imports the checks and snapshots,
   by object identity, every attribute of every ``coursekit`` and ``torch`` module and class,
   ``builtins`` and the standard-library modules the checks use, and ``sys.modules``' entries
   for them. It keeps the snapshot, a secret key and the folder results go to in a closure;
   the key comes from a file the grader wrote and the setup deletes, never from a cell's
   source (IPython keeps every cell's source in ``linecache``).
4. **Each check runs in the pristine world.** In place of the check cell, the grader runs a
   one-line cell calling the guard, which: compares the world with the snapshot and notes
   every name a learner cell replaced or deleted; puts the original objects back for the
   duration of the check; runs the pristine cell's source with the original check functions
   bound to their names (a learner's ``def check_layer_norm`` is never called); collects the
   results the checks recorded; checks that nothing was changed *during* the check (a
   learner's forward patching the checks: that check fails, flagged); writes the results,
   signed (HMAC with the key from step 3 over a fresh nonce from the grader), to a file the
   grader reads at once; and finally gives the learner's world back, patches included, so
   the learner's later cells run as they would have. The score comes from that file only:
   not from stdout (a silenced stdout or a replaced ``print`` changes nothing), not from
   ``coursekit.checks.core.drain`` (never called), not from the progress file.
5. **Flags.** A notebook whose cells replaced a check, patched ``coursekit``, ``torch`` or a
   module the checks use, or replaced ``sys.modules`` entries (all seen by the guard), or whose
   source touches the progress file or the result channel, or reaches for the grader's
   internals (``gc.get_objects``, frames, closures, ``ctypes``, the kernel's parent message)
   is flagged in the table, the JSON and
   the CSV, so the instructor can look. Its scores are still what the checks say on the
   pristine world: the forging attempt scores what the same notebook without it scores.

What this defends against: every forge by reassigning names or module or class attributes
(in the notebook's namespace, in coursekit, torch, builtins, json, hashlib, math, ...), by
printing fake ✅ lines, by silencing or replacing stdout, by writing the progress file, by
replacing the result channel (``drain``), by editing, deleting, moving or re-tagging check
cells; and, in "from scratch" exercises, by subclassing, wrapping or calling the
``torch.nn`` module being built (the checks themselves refuse it).

What is compared: every attribute of ``coursekit.checks``, ``coursekit.course`` and
``sys.modules``' entries; elsewhere (torch, the rest of coursekit, the standard library) the
functions, classes and modules, not plain data (flags and caches that torch and the
experiments change as they run). torch's own wrapping of its functions (``torch.manual_seed``
once dynamo loads, an optimizer's ``step`` at first use: code inside torch whose
``__wrapped__`` leads to the original) is adopted, not flagged.

What it does not defend against: the kernel runs the learner's code, so code written to
dig the grader's own objects out of the kernel's memory (``gc.get_objects()``, frame or
closure inspection, ``ctypes``) and forge from there, or to change torch below Python (its
C++ dispatch), can still forge. Such code is deliberate, cannot be written by accident, and
the usual ways in are flagged by the source scan. Guessing a multiple-choice answer is
possible too. For an exam under adversarial conditions, grade in a sandbox and read the
flagged notebooks.

A cell that runs past ``--timeout`` seconds is stopped: a check scores "timeout"; a check
that then fails for want of what the stopped cell would have defined also scores "timeout",
with the stopped cell named first. A kernel that does not answer within 30 s of the
interrupt (code that swallows ``KeyboardInterrupt``) is stuck: every later check scores
"timeout" at once, naming the cell. If the kernel dies, every check from there on scores
"kernel died". Stderr, warnings and outputs play no part in the score.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import csv
import hashlib
import hmac
import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .jupyter_kernel import current_env_kernel_manager
from .layout import ENV as PROGRESS_ENV
from .layout import RESULT_SYMBOLS, check_cells, check_names_in, course_root, find_notebooks, work_folder

DEFAULT_TIMEOUT = 60
RESPONSIVE_TIMEOUT = 30  # seconds the kernel gets to answer again after a timeout
SETUP_TIMEOUT = 180  # the grader's own setup cell (imports torch), whatever --timeout says
TIMEOUT_ENAME = "CellTimeout"
PASSED, TIMEOUT, DIED, UNGRADED = "passed", "timeout", "kernel died", "could not be graded"
WIDTH = 100

_QUIET = logging.getLogger("coursekit.course.grade.nbclient")
_QUIET.setLevel(logging.CRITICAL)


class GradeError(Exception):
    """Grading could not run at all (no such path, no kernel, a bad option)."""


class NotebookError(Exception):
    """One notebook could not be graded (unreadable, no matching exercise); the rest go on."""


def symbol(status: str) -> str:
    return RESULT_SYMBOLS.get(status, "⏱" if status == TIMEOUT else "💀" if status == DIED else "❌")


@dataclass(frozen=True)
class Score:
    """One check's result in one notebook."""

    check: str
    status: str  # passed | failed | not attempted | error | timeout | kernel died
    message: str = ""
    hint: str = ""
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASSED


@dataclass
class NotebookReport:
    path: str
    exercise: str = ""
    scores: list[Score] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    problem: str = ""  # why it could not be graded
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(s.passed for s in self.scores)

    @property
    def graded(self) -> bool:
        return not self.problem

    def flag(self, text: str) -> None:
        if text not in self.flags:
            self.flags.append(text)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "exercise": self.exercise,
            "graded": self.graded,
            "problem": self.problem,
            "passed": self.passed,
            "total": len(self.scores),
            "flagged": bool(self.flags),
            "flags": self.flags,
            "seconds": round(self.seconds, 1),
            "scores": [{**asdict(s), "passed": s.passed} for s in self.scores],
        }


# --- finding the check cells ------------------------------------------------------------


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _normal(cell: dict) -> str:
    return "\n".join(line.strip() for line in _text(cell).strip().splitlines() if line.strip())


def _same_content(exercise_cell: dict, learner_cell: dict) -> bool:
    if exercise_cell.get("cell_type") != learner_cell.get("cell_type"):
        return False
    if _normal(exercise_cell) == _normal(learner_cell):
        return True
    names = check_names_in(_text(exercise_cell))
    if names and check_names_in(_text(learner_cell)) == names:
        return True
    first = _normal(exercise_cell).split("\n", 1)[0]  # an answer cell: `class LayerNorm(nn.Module):`
    return (
        bool(first)
        and exercise_cell.get("cell_type") == "code"
        and (first.startswith(("class ", "def ")) and _normal(learner_cell).split("\n", 1)[0] == first)
    )


def _match(exercise: list, learner: list) -> dict[int, int]:
    """Exercise cell index -> learner cell index: by id, else by content, in order."""
    ids: dict[str, list[int]] = collections.defaultdict(list)
    for k, c in enumerate(learner):
        if c.get("id"):
            ids[c["id"]].append(k)
    found: dict[int, int] = {}
    used: set[int] = set()
    for e, cell in enumerate(exercise):
        k = ids.get(cell.get("id") or "", [])
        if len(k) == 1 and _kind_ok(cell, learner[k[0]]):
            found[e] = k[0]
            used.add(k[0])
    last = -1
    for e, cell in enumerate(exercise):
        if e in found:
            last = max(last, found[e])
            continue
        candidates = [k for k in range(last + 1, len(learner)) if k not in used]
        k = next((k for k in candidates if _same_content(cell, learner[k])), None)
        if k is not None:
            found[e] = k
            used.add(k)
            last = k
    return found


def _kind_ok(exercise_cell: dict, learner_cell: dict) -> bool:
    return exercise_cell.get("cell_type") == learner_cell.get("cell_type")


def assemble(
    learner: nbformat.NotebookNode, exercise: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, list[int]]:
    """A copy of ``learner`` whose check cells are the exercise's, and where they stand.

    Check cells are matched by cell id, else by content (see :func:`_match`). A matched one
    gets its pristine source back; a missing one is re-inserted after the nearest earlier
    exercise cell the learner still has. Only these cells are scored.
    """
    nb = copy.deepcopy(learner)
    pristine = {id(c) for c in check_cells(exercise)}
    matched = _match(exercise.cells, nb.cells)
    cells = list(nb.cells)
    replace: dict[int, nbformat.NotebookNode] = {}
    inserts: dict[int, list[nbformat.NotebookNode]] = collections.defaultdict(list)
    anchor = -1
    for e, cell in enumerate(exercise.cells):
        if id(cell) in pristine:
            if e in matched:
                replace[matched[e]] = copy.deepcopy(cell)
                anchor = matched[e]
            else:
                inserts[anchor].append(copy.deepcopy(cell))
        elif e in matched:
            anchor = max(anchor, matched[e])
    out, checks = [], []
    for c in inserts.get(-1, []):
        checks.append(len(out))
        out.append(c)
    for k, cell in enumerate(cells):
        if k in replace:
            checks.append(len(out))
            out.append(replace[k])
        else:
            out.append(cell)
        for c in inserts.get(k, []):
            checks.append(len(out))
            out.append(c)
    nb.cells = out
    return nb, checks


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Any nbformat 4 or 3 notebook, as version 4; :class:`NotebookError` saying why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise NotebookError("no such file") from None
    except Exception as exc:  # nbformat raises many kinds for a file that is not a notebook
        raise NotebookError(f"not a notebook that can be read ({type(exc).__name__})") from None


def find_exercise(path: Path, exercises: Path, nb: nbformat.NotebookNode | None = None) -> Path:
    """The exercise a notebook answers: its ``coursekit.exercise`` metadata, else its file name."""
    nb = nb if nb is not None else read_notebook(path)
    name = nb.metadata.get("coursekit", {}).get("exercise") or path.stem
    exercise = exercises / f"{name}.ipynb"
    if not exercise.is_file():  # a copy made before exercises were renamed exercise_NN_...
        exercise = exercises / f"exercise_{name}.ipynb"
    if not exercise.is_file():
        raise NotebookError(f"no matching exercise {exercises / name}.ipynb")
    return exercise


# --- flags from the learner's source ----------------------------------------------------

_SUSPICIOUS = [
    (re.compile(r"\b(coursekit|checks|core|norms)\.[\w.]+\s*=[^=]"), "assigns to coursekit's attributes"),
    (re.compile(r"\btorch\.(?!backends\b)[\w.]+\s*=[^=]"), "assigns to torch's attributes"),
    (
        re.compile(r"\bsetattr\s*\(\s*(coursekit|torch|checks|core|norms|builtins)"),
        "patches a module with setattr",
    ),
    (
        re.compile(r"\bdrain\s*\(|\.drain\b|\b_RECORD\b|\brecord_result\b"),
        "touches the checks' result channel",
    ),
    (re.compile(r"coursekit-progress|COURSEKIT_PROGRESS|progress\.json"), "touches the progress file"),
    (
        re.compile(
            r"gc\.get_(objects|referrers)|_getframe|__closure__|cell_contents|getclosurevars|\bctypes\b"
            r"|get_parent\(|f_globals|f_back|_coursekit_grader"
        ),
        "reaches into the interpreter's internals",
    ),
]


def source_flags(nb: nbformat.NotebookNode, checks: list[int]) -> list[str]:
    """What a reader should look at in the learner's own code cells (never the pristine ones)."""
    names = sorted({m for k in checks for m in re.findall(r"\bcheck_\w+", _text(nb.cells[k]))})
    patterns = list(_SUSPICIOUS)
    if names:
        alternatives = "|".join(names)
        redefine = (
            rf"^\s*(def\s+({alternatives})\b|({alternatives})\s*=[^=]|import\s.*\bas\s+({alternatives})\b)"
        )
        patterns.insert(0, (re.compile(redefine, re.M), "redefines a check"))
    flags: list[str] = []
    for k, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or k in checks:
            continue
        for pattern, what in patterns:
            m = pattern.search(_text(cell))
            if m and what not in " ".join(flags):
                flags.append(f"cell {k} {what}: {m.group(0).strip()[:60]}")
    return flags


# --- the code the grader runs inside the kernel --------------------------------------------

_GUARD = r'''
def _coursekit_key(path):
    """The signing key, from a file the grader wrote and this removes: never in a cell's source."""
    import os
    with open(path, encoding="ascii") as f:
        key = bytes.fromhex(f.read())
    os.remove(path)
    return key


def _coursekit_guard(key, folder, pristine, progress):
    import builtins, hashlib, hmac, io, json, os, sys, types
    import torch, torch.testing, torch.nn.functional, torch.autograd, torch.overrides
    import coursekit.checks
    import coursekit.checks.core as core
    from IPython import get_ipython

    user_ns = get_ipython().user_ns
    MISSING = object()
    stdlib = ["builtins", "json", "hashlib", "hmac", "math", "inspect", "functools", "dataclasses",
              "traceback", "linecache", "textwrap", "random", "copy", "contextlib", "types", "re",
              "operator", "os", "io", "collections", "abc", "warnings", "typing", "numpy", "numpy.random"]
    ours = ("coursekit", "torch")

    def watched(name):
        return name in stdlib or name.split(".")[0] in ours

    spaces = []  # (label, namespace dict, setter, snapshot, is_ours)
    def module_setter(d):
        def put(k, v):
            if v is MISSING:
                d.pop(k, None)
            else:
                d[k] = v
        return put

    def class_setter(cls):
        def put(k, v):
            if v is MISSING:
                delattr(cls, k)
            else:
                setattr(cls, k, v)
        return put

    seen_classes = set()
    quiet = __import__("warnings").catch_warnings()
    quiet.__enter__()
    __import__("warnings").simplefilter("ignore")
    for name, mod in list(sys.modules.items()):
        if mod is None or not watched(name) or not isinstance(mod, types.ModuleType):
            continue
        d = vars(mod)
        spaces.append((name, d, module_setter(d), dict(d), name.split(".")[0] in ours or name == "builtins"))
        if name.split(".")[0] not in ours:
            continue
        for v in list(d.values()):
            if isinstance(v, type) and v.__module__ == name and id(v) not in seen_classes:
                seen_classes.add(id(v))
                label = f"{name}.{v.__qualname__}"
                spaces.append((label, v.__dict__, class_setter(v), dict(v.__dict__), True))
    quiet.__exit__(None, None, None)
    modules = {n: m for n, m in sys.modules.items() if m is not None and watched(n)}
    spaces.append(("sys.modules", sys.modules, module_setter(sys.modules), modules, True))
    checks = {n: getattr(coursekit.checks, n) for n in dir(coursekit.checks) if n.startswith("check_")}
    real_out, real_err, record, CheckResult = sys.stdout, sys.stderr, core._RECORD, core.CheckResult
    ignore = {"__warningregistry__", "__builtins__"}

    torch_dir = os.path.dirname(torch.__file__) + os.sep

    def wraps_original(old, new):
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

    def differences():
        out = []
        for label, d, put, snap, is_ours in spaces:
            strict = label == "sys.modules" or label.startswith(("coursekit.checks", "coursekit.course"))
            for k, old in list(snap.items()):
                new = d.get(k, MISSING)
                if new is old or k in ignore:
                    continue
                if strict or callable(old) or isinstance(old, types.ModuleType):
                    if wraps_original(old, new):
                        snap[k] = new  # adopt torch's own wrapper as the original
                        continue
                    out.append((label, put, k, old, new))
        return out

    def guard(call, nonce, source):
        flags, results, error = [], [], None
        before = differences()
        for label, put, k, old, new in before:
            if not (label == "builtins" and k in ("print", "input")):
                flags.append(f"{'deletes' if new is MISSING else 'replaces'} {label}.{k}"
                             if label != "sys.modules" else f"replaces sys.modules[{k!r}]")
        for label, put, k, old, new in before:
            put(k, old)
        for name, fn in checks.items():
            if name in user_ns and user_ns[name] is not fn and name in source:
                flags.append(f"redefines {name}")
        learner_out, learner_err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = real_out, real_err
        try:
            del record[:]
            namespace = dict(user_ns)
            namespace.update(checks)
            try:
                exec(compile(source, "<check cell>", "exec"), namespace)
            except Exception as exc:
                text = str(exc).strip().splitlines()
                error = {"ename": type(exc).__name__, "evalue": text[0] if text else ""}
            during = differences()
            results = [r.to_json() for r in list(record) if type(r) is CheckResult]
            if during:
                what = ", ".join(f"{label}.{k}" for label, put, k, old, new in during[:3])
                flags.append(f"changed {what} while a check ran")
                for label, put, k, old, new in during:
                    put(k, old)
                for r in results:
                    r.update(status="failed", passed=False,
                             message=f"the checks were changed while they ran ({what})",
                             hint="a check must run unchanged; the instructor will look at this notebook")
            del record[:]
            payload = json.dumps({"results": results, "error": error, "flags": flags})
            sign = hmac.new(key, (nonce + payload).encode(), hashlib.sha256).hexdigest()
            path = os.path.join(folder, f"{call}.json")
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(sign + "\n" + payload)
            os.replace(path + ".tmp", path)
        finally:
            sys.stdout, sys.stderr = learner_out, learner_err
            for label, put, k, old, new in before:
                put(k, new)

    return guard
'''


def _setup_source(name: str, key_file: str, folder: str, progress: str) -> str:
    return (
        f"{_GUARD}\n"
        f"__import__('sys').modules[{name!r}] = type(__import__('sys'))({name!r})\n"
        f"__import__('sys').modules[{name!r}].guard = _coursekit_guard("
        f"_coursekit_key({key_file!r}), {folder!r}, None, {progress!r})\n"
        "del _coursekit_guard, _coursekit_key\n"
    )


class _Run:
    """One notebook's execution: learner cells as they are, check cells through the guard."""

    def __init__(self, nb: nbformat.NotebookNode, folder: Path, timeout: int, scratch: Path) -> None:
        from nbclient import NotebookClient

        self.error: dict[str, object] | None = None
        self.key = secrets.token_bytes(32)
        self.module = f"_coursekit_grader_{secrets.token_hex(8)}"
        self.results = scratch / secrets.token_hex(8)
        self.results.mkdir()
        self.progress = scratch / "progress.json"
        self.calls = 0
        # nbclient stores each executed cell at its index in the notebook it holds: give it a
        # scratch notebook of one cell, so the grader's own cells never land in the one it grades
        self.scratch_nb = nbformat.v4.new_notebook(metadata=copy.deepcopy(nb.metadata))
        self.scratch_nb.cells = [nbformat.v4.new_code_cell("")]
        self.client = NotebookClient(
            self.scratch_nb,
            km=current_env_kernel_manager(),
            timeout=timeout,
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={
                "ename": TIMEOUT_ENAME,
                "evalue": f"ran longer than {timeout} s",
                "traceback": [],
            },
            resources={"metadata": {"path": str(folder)}},
            on_cell_error=self._on_error,
            log=_QUIET,  # nbclient logs each timeout and dead kernel as an ERROR; the table says it
        )

    def _on_error(self, cell: object, cell_index: int, execute_reply: dict[str, object]) -> None:
        self.error = execute_reply.get("content", {})  # type: ignore[assignment]

    def cell(self, cell: nbformat.NotebookNode, index: int, history: bool = True) -> dict[str, object] | None:
        """Run one cell; return the error reply's content, if it failed."""
        self.error = None
        self.client.execute_cell(cell, 0, store_history=history)
        return self.error

    def setup(self) -> dict[str, object] | None:
        """The guard, before any learner code; importing torch on a busy machine gets a generous limit."""
        key_file = self.results.parent / secrets.token_hex(8)
        key_file.write_text(self.key.hex(), encoding="ascii")
        source = _setup_source(self.module, str(key_file), str(self.results), str(self.progress))
        limit = self.client.timeout
        self.client.timeout = max(limit or 0, SETUP_TIMEOUT)
        try:
            return self.cell(nbformat.v4.new_code_cell(source), 0, history=False)
        finally:
            self.client.timeout = limit

    def responsive(self) -> bool:
        """After a timeout: does the kernel answer again? (Code that swallows the interrupt keeps it busy.)"""
        limit = self.client.timeout
        self.client.timeout = min(limit or RESPONSIVE_TIMEOUT, RESPONSIVE_TIMEOUT)
        try:
            error = self.cell(nbformat.v4.new_code_cell("pass"), 0, history=False)
        finally:
            self.client.timeout = limit
        return error is None

    def check(self, source: str, index: int) -> tuple[dict | None, dict[str, object] | None]:
        """Run a pristine check cell through the guard: (the guard's signed report or None, error)."""
        self.calls += 1
        nonce = secrets.token_hex(16)
        call = nbformat.v4.new_code_cell(
            f"__import__('sys').modules[{self.module!r}].guard({self.calls}, {nonce!r}, {source!r})"
        )
        error = self.cell(call, index, history=False)
        path = self.results / f"{self.calls}.json"
        try:
            sign, payload = path.read_text(encoding="utf-8").split("\n", 1)
        except (OSError, ValueError):
            return None, error
        expected = hmac.new(self.key, (nonce + payload).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sign, expected):
            return {"results": [], "error": None, "flags": ["the grader's report was forged"]}, error
        return json.loads(payload), error


def _first_line(cell: nbformat.NotebookNode) -> str:
    line = next((ln.strip() for ln in _text(cell).splitlines() if ln.strip()), "")
    return line[:40] + ("…" if len(line) > 40 else "")


def _score_cell(
    names: list[str], report: dict | None, error: dict[str, object] | None, stopped: str
) -> list[Score]:
    by_name = {r["name"]: r for r in (report or {}).get("results", [])}
    cell_error = (report or {}).get("error") or (None if report else error)
    scores = []
    for name in names:
        if name in by_name:
            r = by_name[name]
            status = str(r["status"])
            if stopped and status == "error":
                scores.append(
                    Score(name, TIMEOUT, f"{stopped}; then: {r['message']}", str(r["hint"]), str(r["detail"]))
                )
            else:
                scores.append(Score(name, status, str(r["message"]), str(r["hint"]), str(r["detail"])))
        elif error is not None and error.get("ename") == TIMEOUT_ENAME:
            scores.append(
                Score(
                    name,
                    TIMEOUT,
                    f"timeout: the check {error.get('evalue')} and was stopped",
                    "is there an endless loop in your code?",
                )
            )
        elif cell_error:
            raised = (
                f"the check cell raised {cell_error.get('ename')}: {str(cell_error.get('evalue', ''))[:200]}"
            )
            if stopped:
                scores.append(
                    Score(
                        name, TIMEOUT, f"{stopped}; then {raised}", "is there an endless loop in that cell?"
                    )
                )
            else:
                scores.append(
                    Score(
                        name, "error", raised, "run the notebook from the top: is every answer cell defined?"
                    )
                )
        else:
            scores.append(Score(name, "error", "the check recorded no result"))
    return scores


def grade_notebook(path: Path, exercises: Path, timeout: int = DEFAULT_TIMEOUT) -> NotebookReport:
    """Grade one notebook in a fresh kernel; the learner's file is only read.

    Raises :class:`NotebookError` for a notebook that cannot be graded, :class:`GradeError`
    when no kernel can be started.
    """
    from nbclient.exceptions import DeadKernelError

    start = time.monotonic()
    learner = read_notebook(path)
    exercise_path = find_exercise(path, exercises, learner)
    nb, check_indices = assemble(learner, read_notebook(exercise_path))
    report = NotebookReport(str(path), exercise_path.stem)
    for f in source_flags(nb, check_indices):
        report.flag(f)
    stopped = ""  # the last learner cell stopped by the time limit, said first in a later failure
    with tempfile.TemporaryDirectory() as scratch:
        try:
            run = _Run(nb, path.resolve().parent, timeout, Path(scratch))
        except Exception as exc:  # noqa: BLE001 - no kernel manager, no kernel
            raise GradeError(f"could not start a Python kernel ({type(exc).__name__}: {exc})") from None
        dead = ""
        with _kernel(run):
            try:
                error = run.setup()
            except DeadKernelError:
                error = {"ename": "DeadKernelError", "evalue": "the kernel died"}
            if error is not None and error.get("ename") == TIMEOUT_ENAME:
                raise NotebookError(
                    f"the grader's setup (importing torch, the checks) took longer than {SETUP_TIMEOUT} s: "
                    "is the machine overloaded? grade this notebook again"
                )
            if error is not None:
                raise NotebookError(
                    f"the grader's setup failed in the kernel: {error.get('ename')}: {error.get('evalue')}"
                )
            for index, cell in enumerate(nb.cells):
                is_check = index in check_indices
                names = check_names_in(cell.source) if is_check else []
                if dead:
                    report.scores += [
                        Score(n, TIMEOUT if dead.startswith("timeout") else DIED, dead) for n in names
                    ]
                    continue
                if cell.get("cell_type") != "code":
                    continue
                try:
                    if not is_check:
                        error = run.cell(cell, index)
                        if error is not None and error.get("ename") == TIMEOUT_ENAME:
                            stopped = (
                                f"timeout: cell {index} (`{_first_line(cell)}`) {error.get('evalue')} "
                                "and was stopped"
                            )
                            if not run.responsive():
                                dead = (
                                    f"timeout: the kernel is stuck in cell {index} (it ignores the interrupt)"
                                )
                        continue
                    guard, error = run.check(cell.source, index)
                    if guard is None and error is not None and error.get("ename") != TIMEOUT_ENAME:
                        report.flag(f"the grader's guard failed at cell {index} ({error.get('ename')})")
                    if guard is None and error is None:
                        report.flag(f"the grader's guard did not report at cell {index}")
                        error = {"ename": "GuardMissing", "evalue": "the grader's guard did not report"}
                    for f in (guard or {}).get("flags", []):
                        report.flag(f)
                    report.scores += _score_cell(names, guard, error, stopped)
                    if error is not None and error.get("ename") == TIMEOUT_ENAME and not run.responsive():
                        dead = f"timeout: the kernel is stuck in cell {index} (it ignores the interrupt)"
                except DeadKernelError:
                    dead = f"the kernel died or stopped answering at cell {index}"
                    report.scores += [
                        Score(n, TIMEOUT if dead.startswith("timeout") else DIED, dead) for n in names
                    ]
    report.seconds = time.monotonic() - start
    return report


@contextlib.contextmanager
def _kernel(run: _Run):  # noqa: ANN202
    """Start the kernel with progress redirected to scratch; grading never touches a learner's record."""
    env = {**os.environ, PROGRESS_ENV: str(run.progress)}
    try:
        # the kernel's own stderr (e.g. its transport warning) is noise here; learners' output goes via IOPub
        context = run.client.setup_kernel(
            cleanup_kc=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        context.__enter__()
    except Exception as exc:  # noqa: BLE001 - any failure to start is "no kernel"
        raise GradeError(
            f"could not start a Python kernel ({type(exc).__name__}: {exc}); "
            "is ipykernel installed in this environment?"
        ) from None
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            context.__exit__(None, None, None)


def grade(
    paths: list[str],
    exercises: Path | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    log: io.TextIOBase | None = None,
) -> list[NotebookReport]:
    """Grade every notebook named (folders included), one line to ``log`` as each is done.

    A notebook that cannot be graded gets a report with ``problem`` set; the others are graded.
    """
    exercises = exercises or course_root() / "exercises"
    try:
        notebooks = find_notebooks(paths)
    except FileNotFoundError as exc:
        raise GradeError(str(exc)) from None
    reports = []
    names = short_names([str(p) for p in notebooks])
    for k, path in enumerate(notebooks):
        try:
            report = grade_notebook(path, exercises, timeout)
        except NotebookError as exc:
            report = NotebookReport(str(path), problem=str(exc))
        reports.append(report)
        if log is not None:
            log.write(_graded_line(k + 1, len(notebooks), names[k], report) + "\n")
            log.flush()
    return reports


def _graded_line(k: int, n: int, name: str, r: NotebookReport) -> str:
    if not r.graded:
        return f"[{k}/{n}] {name}: {UNGRADED}: {r.problem}"
    flag = "  ⚠ flagged" if r.flags else ""
    return f"[{k}/{n}] {name}: {r.passed}/{len(r.scores)}{flag} ({r.seconds:.0f} s)"


def short_names(paths: list[str]) -> list[str]:
    """The shortest path tails that tell the notebooks apart (usually the file names)."""
    parts = [Path(p).parts for p in paths]
    depth = 1
    while depth < max((len(p) for p in parts), default=1):
        tails = [str(Path(*p[-depth:])) for p in parts]
        if len(set(tails)) == len(tails):
            return tails
        depth += 1
    return [str(Path(*p)) for p in parts]


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent) or []


def format_table(reports: list[NotebookReport]) -> str:
    """A row per notebook (name, score, first failing check), its hint and flags on their own lines."""
    names = short_names([r.path for r in reports])
    width = max([len("notebook"), *(len(n) for n in names)])
    lines = [f"{'notebook'.ljust(width)}  score  first failing check", "-" * (width + 40)]
    for name, r in zip(names, reports, strict=True):
        if not r.graded:
            lines.append(f"{name.ljust(width)}  {'-':>5}  {UNGRADED}")
            lines += _wrap(r.problem, " " * (width + 9))
            continue
        first = next((s for s in r.scores if not s.passed), None)
        score = f"{r.passed}/{len(r.scores)}"
        what = "" if first is None else f"{symbol(first.status)} {first.check}: {first.status}"
        lines.append(f"{name.ljust(width)}  {score:>5}  {what}".rstrip())
        if first is not None and first.status not in ("not attempted",):
            lines += _wrap(first.message, " " * (width + 11))
            lines += [
                " " * (width + 11) + line for line in first.detail.splitlines()[:2]
            ]  # the learner's line
            if first.hint:
                lines += _wrap(f"hint: {first.hint}", " " * (width + 11))
        if r.flags:
            lines += _wrap("⚠ flagged: " + "; ".join(r.flags), " " * (width + 9))
    graded = [r for r in reports if r.graded]
    passed, total = sum(r.passed for r in graded), sum(len(r.scores) for r in graded)
    tail = f"total: {passed}/{total} checks passed in {len(graded)} notebook(s)"
    if len(graded) < len(reports):
        tail += f"; {len(reports) - len(graded)} could not be graded"
    flagged = sum(bool(r.flags) for r in graded)
    if flagged:
        tail += f"; {flagged} flagged"
    lines.append(tail)
    return "\n".join(line.rstrip() for line in lines)


def class_summary(reports: list[NotebookReport], top: int = 5) -> dict[str, object]:
    """Per check: how many passed, how many did each other status; the hints hit most often."""
    graded = [r for r in reports if r.graded]
    checks: dict[str, collections.Counter] = {}
    hints: collections.Counter = collections.Counter()
    for r in graded:
        for s in r.scores:
            checks.setdefault(s.check, collections.Counter())[s.status] += 1
            if not s.passed and s.status not in ("not attempted", DIED):
                hints[(s.check, s.hint or _gist(s.message))] += 1
    return {
        "notebooks": len(reports),
        "graded": len(graded),
        "flagged": sum(bool(r.flags) for r in graded),
        "checks": {
            name: {"passed": c[PASSED], "of": sum(c.values()), "statuses": dict(c)}
            for name, c in checks.items()
        },
        "hints": [{"check": c, "hint": h, "count": n} for (c, h), n in hints.most_common(top)],
    }


def _gist(message: str) -> str:
    """A message without the numbers that differ from notebook to notebook (for counting)."""
    return re.sub(
        r"line \d+|\d+(\.\d+)?( s)?", "…", message.split(":")[0] if "raised" in message else message
    )


def format_summary(reports: list[NotebookReport]) -> str:
    summary = class_summary(reports)
    lines = ["class summary (what to re-teach):"]
    checks = summary["checks"]
    width = max([5, *(len(n) for n in checks)])  # type: ignore[union-attr]
    for name, c in sorted(checks.items(), key=lambda kv: kv[1]["passed"] / max(1, kv[1]["of"])):  # type: ignore[union-attr]
        others = ", ".join(f"{n} {s}" for s, n in sorted(c["statuses"].items()) if s != PASSED)
        lines.append(
            f"  {name.ljust(width)}  {c['passed']}/{c['of']} passed" + (f"  ({others})" if others else "")
        )
    if summary["hints"]:
        lines.append("hints hit most often:")
        for h in summary["hints"]:  # type: ignore[union-attr]
            lines += textwrap.wrap(
                f"{h['count']}× {h['check']}: {h['hint']}",
                WIDTH,
                initial_indent="  ",
                subsequent_indent="      ",
            )
    return "\n".join(lines)


CSV_FIELDS = ["notebook", "exercise", "check", "status", "passed", "message", "hint", "flags"]


def write_csv(reports: list[NotebookReport], target: io.TextIOBase) -> None:
    """A row per notebook and check (a notebook that could not be graded: one row saying why)."""
    writer = csv.DictWriter(target, CSV_FIELDS)
    writer.writeheader()
    for r in reports:
        flags = "; ".join(r.flags)
        if not r.graded:
            writer.writerow({"notebook": r.path, "status": UNGRADED, "passed": False, "message": r.problem})
        for s in r.scores:
            writer.writerow(
                {
                    "notebook": r.path,
                    "exercise": r.exercise,
                    "check": s.check,
                    "status": s.status,
                    "passed": s.passed,
                    "message": s.message,
                    "hint": s.hint,
                    "flags": flags,
                }
            )


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 every notebook graded; 1 some could not be graded; 2 grading could not run."""
    try:
        if args.timeout <= 0:
            raise GradeError(f"--timeout must be a positive number of seconds, got {args.timeout}")
        # no notebook named: the learner's own work folder, my-work/ (coursekit/course/workspace.py)
        notebooks = args.notebooks or [str(work_folder())]
        exercises = Path(args.exercises) if args.exercises else None
        reports = grade(notebooks, exercises, args.timeout, log=sys.stdout)
    except GradeError as exc:
        print(f"coursekit grade: {exc}", file=sys.stderr)
        return 2
    print()
    print(format_table(reports))
    if len(reports) > 1:
        print()
        print(format_summary(reports))
    if args.json:
        document = {"notebooks": [r.to_json() for r in reports], "summary": class_summary(reports)}
        Path(args.json).write_text(
            json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            write_csv(reports, f)
    ungraded = [r for r in reports if not r.graded]
    for r in ungraded:
        print(f"coursekit grade: {r.path}: {UNGRADED}: {r.problem}", file=sys.stderr)
    return 1 if ungraded else 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments to its parser (made by :mod:`coursekit.course.cli`)."""
    parser.add_argument(
        "notebooks", nargs="*", metavar="NOTEBOOK", help="notebooks or folders (default: my-work/, yours)"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write every score, flag and the class summary as JSON"
    )
    parser.add_argument("--csv", metavar="FILE", help="also write a row per notebook and check as CSV")
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds a cell may run before it is stopped (default {DEFAULT_TIMEOUT})",
    )
    parser.add_argument(
        "--exercises", help="folder of pristine exercise notebooks (default: the course's exercises/)"
    )
    parser.set_defaults(func=run)
