"""``coursekit grade NOTEBOOK...``: score learners' exercise notebooks from the command line.

Each notebook is read (never written), its check cells (tag ``check``, found by cell id) are
replaced by the pristine ones from the matching exercise notebook (a deleted one is put back
where it was), and the copy runs cell by cell in a fresh kernel of this Python environment.

How a result is read: just before a check cell, the grader discards whatever results the
notebook recorded so far; just after it, it asks the kernel for the results recorded since,
tagged with a nonce it made for this run. Only what the pristine check cell itself recorded
counts, where it stands in the notebook (a name reused later cannot change it), and printing
a fake ✅ line scores nothing, because the learner's notebook never sees the nonce. (Code that
deliberately patches coursekit inside the kernel is not defended against; it is visible to
anyone reading the notebook.) Stderr, warnings and outputs play no part in the score.

A cell that runs past ``--timeout`` seconds is interrupted: a check cell scores "timeout",
later cells go on. If the kernel dies, every check from there on scores "kernel died".
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .jupyter_kernel import current_env_kernel_manager
from .layout import ENV as PROGRESS_ENV
from .layout import check_cells, check_names_in, course_root, find_notebooks, work_folder

DEFAULT_TIMEOUT = 60
TIMEOUT_ENAME = "CellTimeout"


_QUIET = logging.getLogger("coursekit.course.grade.nbclient")
_QUIET.setLevel(logging.CRITICAL)


class GradeError(Exception):
    """Grading could not run (missing file, not a notebook, no exercise, no kernel)."""


@dataclass(frozen=True)
class Score:
    """One check's result in one notebook."""

    check: str
    status: str  # passed | failed | not attempted | error | timeout | kernel died
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class NotebookReport:
    path: str
    exercise: str
    scores: list[Score] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(s.passed for s in self.scores)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "exercise": self.exercise,
            "passed": self.passed,
            "total": len(self.scores),
            "scores": [{**asdict(s), "passed": s.passed} for s in self.scores],
        }


def assemble(
    learner: nbformat.NotebookNode, exercise: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, list[int]]:
    """A copy of ``learner`` whose check cells are the exercise's, and where they stand.

    Check cells are matched by cell id. An edited one gets its pristine source back; a
    deleted one is re-inserted after the nearest earlier exercise cell the learner still has.
    Only these cells are scored: a learner's extra or copied cell tagged ``check`` is just code.
    """
    nb = copy.deepcopy(learner)
    pristine = {c["id"]: c for c in check_cells(exercise)}
    cells, placed = [], {}
    for cell in nb.cells:
        cid = cell.get("id")
        if cid in pristine and cid not in placed:
            cell = placed[cid] = copy.deepcopy(pristine[cid])
        cells.append(cell)
    anchor = -1
    for cell in exercise.cells:
        cid = cell.get("id")
        if cid in pristine and cid not in placed:
            placed[cid] = copy.deepcopy(pristine[cid])
            cells.insert(anchor + 1, placed[cid])
            anchor += 1
        else:
            anchor = next((k for k, c in enumerate(cells) if c.get("id") == cid), anchor)
    nb.cells = cells
    mine = {id(c) for c in placed.values()}
    return nb, [k for k, c in enumerate(cells) if id(c) in mine]


def find_exercise(path: Path, exercises: Path) -> Path:
    """The exercise a notebook answers: its ``coursekit.exercise`` metadata, else its file name."""
    try:
        nb = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise GradeError(f"{path}: no such file") from None
    except Exception as exc:  # nbformat raises many kinds for a file that is not a notebook
        raise GradeError(f"{path}: not a notebook ({type(exc).__name__})") from None
    name = nb.metadata.get("coursekit", {}).get("exercise") or path.stem
    exercise = exercises / f"{name}.ipynb"
    if not exercise.is_file():
        raise GradeError(f"{path}: no matching exercise {exercise}")
    return exercise


class _Run:
    """One notebook's execution: runs cells and probes, keeps the last error reply."""

    def __init__(self, nb: nbformat.NotebookNode, folder: Path, timeout: int) -> None:
        from nbclient import NotebookClient

        self.error: dict[str, object] | None = None
        self.nonce = secrets.token_hex(16)
        self.client = NotebookClient(
            nb,
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

    def cell(self, cell: nbformat.NotebookNode, index: int) -> dict[str, object] | None:
        """Run one cell; return the error reply's content, if it failed."""
        self.error = None
        self.client.execute_cell(cell, index)
        return self.error

    def probe(self, index: int, collect: bool) -> list[dict[str, object]] | None:
        """Drain the kernel's recorded results; None if the kernel did not answer."""
        nonce = repr(self.nonce) if collect else ""
        # builtins.print and a fresh import: a learner's `print = ...` or shadowed names cannot break it
        cell = nbformat.v4.new_code_cell(
            f"__import__('builtins').print(__import__('coursekit.checks.core').checks.core.drain({nonce}))"
        )
        if self.cell(cell, index) is not None:
            return None
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
        for line in text.splitlines():
            if line.startswith(self.nonce + " "):
                return json.loads(line[len(self.nonce) + 1 :])
        return [] if not collect else None


def _error_hint(error: dict[str, object]) -> str:
    return f"the check cell raised {error.get('ename')}: {str(error.get('evalue', ''))[:200]}"


def _score_cell(
    names: list[str], results: list[dict[str, object]], error: dict[str, object] | None, note: str
) -> list[Score]:
    by_name = {r["name"]: r for r in results}
    scores = []
    for name in names:
        if name in by_name:
            r = by_name[name]
            shown = r["status"] in ("failed", "error")
            hint = " ".join(str(x) for x in (r["message"], r["detail"], r["hint"]) if x and shown)
            scores.append(Score(name, str(r["status"]), hint))
        elif error is not None and error.get("ename") == TIMEOUT_ENAME:
            scores.append(
                Score(name, "timeout", f"the check {error.get('evalue')}; is there an endless loop?")
            )
        elif error is not None:
            scores.append(Score(name, "error", " ".join(x for x in (_error_hint(error), note) if x)))
        else:
            scores.append(Score(name, "error", "the check recorded no result"))
    return scores


def grade_notebook(path: Path, exercises: Path, timeout: int = DEFAULT_TIMEOUT) -> NotebookReport:
    """Grade one notebook in a fresh kernel; the learner's file is only read."""
    from nbclient.exceptions import DeadKernelError

    exercise_path = find_exercise(path, exercises)
    nb, check_indices = assemble(
        nbformat.read(path, as_version=4), nbformat.read(exercise_path, as_version=4)
    )
    report = NotebookReport(str(path), exercise_path.stem)
    try:
        run = _Run(nb, path.resolve().parent, timeout)
    except Exception as exc:  # noqa: BLE001 - no kernel manager, no kernel
        raise GradeError(f"could not start a Python kernel ({type(exc).__name__}: {exc})") from None
    dead = ""
    note = ""  # what went wrong earlier, for the hint of a check that then errors
    with tempfile.TemporaryDirectory() as scratch, _kernel(run, scratch):
        for index, cell in enumerate(nb.cells):
            is_check = index in check_indices
            names = check_names_in(cell.source) if is_check else []
            if dead:
                report.scores += [Score(n, "kernel died", dead) for n in names]
                continue
            try:
                if not is_check:
                    error = run.cell(cell, index)
                    if error is not None and error.get("ename") == TIMEOUT_ENAME:
                        note = f"(cell {index} was stopped: it {error.get('evalue')})"
                    continue
                if run.probe(index, collect=False) is None:
                    raise DeadKernelError("the kernel stopped answering")
                error = run.cell(cell, index)
                results = run.probe(index, collect=True)
                if results is None:
                    raise DeadKernelError("the kernel stopped answering")
                report.scores += _score_cell(names, results, error, note)
            except DeadKernelError:
                dead = f"the kernel died or hung at cell {index}"
                report.scores += [Score(n, "kernel died", dead) for n in names]
    return report


@contextlib.contextmanager
def _kernel(run: _Run, scratch: str):  # noqa: ANN202
    """Start the kernel with progress redirected to ``scratch``; grading never touches a learner's record."""
    env = {**os.environ, PROGRESS_ENV: str(Path(scratch) / "progress.json")}
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
    paths: list[str], exercises: Path | None = None, timeout: int = DEFAULT_TIMEOUT
) -> list[NotebookReport]:
    """Grade every notebook named (folders included). Checks every input before running any."""
    exercises = exercises or course_root() / "exercises"
    try:
        notebooks = find_notebooks(paths)
    except FileNotFoundError as exc:
        raise GradeError(str(exc)) from None
    for path in notebooks:
        find_exercise(path, exercises)
    return [grade_notebook(path, exercises, timeout) for path in notebooks]


def format_table(reports: list[NotebookReport]) -> str:
    rows = [("notebook", "exercise", "result", "hint")]
    for r in reports:
        rows += [(r.path, s.check, ("✅ " if s.passed else "❌ ") + s.status, s.hint) for s in r.scores]
        rows.append((r.path, "total", f"{r.passed}/{len(r.scores)}", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    ]
    lines.insert(1, "-" * (sum(widths) + 10))
    passed, total = sum(r.passed for r in reports), sum(len(r.scores) for r in reports)
    lines.append(f"total: {passed}/{total} checks passed in {len(reports)} notebook(s)")
    return "\n".join(line.rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    try:
        if args.timeout <= 0:
            raise GradeError(f"--timeout must be a positive number of seconds, got {args.timeout}")
        # no notebook named: the learner's own work folder (coursekit/course/workspace.py)
        notebooks = args.notebooks or [str(work_folder())]
        reports = grade(notebooks, Path(args.exercises) if args.exercises else None, args.timeout)
    except GradeError as exc:
        print(f"coursekit grade: {exc}", file=sys.stderr)
        return 2
    print(format_table(reports))
    if args.json:
        Path(args.json).write_text(
            json.dumps([r.to_json() for r in reports], indent=1) + "\n", encoding="utf-8"
        )
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments to its parser (made by :mod:`coursekit.course.cli`)."""
    parser.add_argument(
        "notebooks",
        nargs="*",
        metavar="NOTEBOOK",
        help="notebooks or folders of notebooks (default: your work folder, my-work/)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the scores as JSON")
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
