"""Grading one submission: its bytes and the pristine exercise in, a :class:`NotebookReport` out.

:func:`grade_submission` is the one entry point per notebook. It is given the submission's bytes
(read once, by the caller) and the folder the kernel works in, so a caller can grade from a
private copy in a working folder of its own; :func:`grade_notebook` is the plain case, one
file graded in a fresh working folder.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ...work.layout import NOT_ATTEMPTED, check_names_in
from .flags import source_flags
from .kernel import SETUP_TIMEOUT, TIMEOUT_ENAME, KernelRun, kernel_session
from .matching import assemble, find_exercise, parse_notebook, read_bytes, read_notebook, text
from .report import DIED, TIMEOUT, GradeError, NotebookError, NotebookReport, Score

DEFAULT_TIMEOUT = 60
# a check cell that raised NameError: what the learner sees in the notebook too (checks/order.py)
RUN_FIRST = "run the cell that defines it before the check cell (Run All runs every cell in order)"


@dataclass(frozen=True)
class Submission:
    """One learner's notebook as read once: where it was (the report's name for it) and its bytes."""

    path: Path
    data: bytes

    @classmethod
    def read(cls, path: Path) -> Submission:
        """:class:`NotebookError` when the file cannot be read."""
        return cls(path, read_bytes(path))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def grade_submission(
    submission: Submission,
    exercises: Path,
    *,
    cwd: Path,
    timeout: int = DEFAULT_TIMEOUT,
    launch: Callable[[Path], tuple[object, dict]] | None = None,
) -> NotebookReport:
    """Grade one submission in a fresh kernel whose working folder is ``cwd``; nothing is written
    anywhere but a scratch folder of its own. ``launch(scratch)``: the kernel manager and the
    environment additions the kernel runs with (:mod:`.isolation`: sandboxed, pristine library).

    The exercise it answers is found in ``exercises`` (its ``coursekit.exercise`` metadata, else
    its file name). Raises :class:`NotebookError` for a notebook that cannot be graded,
    :class:`GradeError` when no kernel can be started.
    """
    start = time.monotonic()
    learner = parse_notebook(submission.data)
    exercise_path = find_exercise(submission.path, exercises, learner)
    nb, checks = assemble(learner, read_notebook(exercise_path))
    report = NotebookReport(str(submission.path), exercise_path.stem)
    for f in source_flags(nb, checks):
        report.flag(f)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            km, env = launch(Path(scratch)) if launch else (None, None)
            run = KernelRun(nb.metadata, cwd, timeout, Path(scratch), km, env)
        except Exception as exc:  # noqa: BLE001 - no kernel manager, no kernel
            raise GradeError(f"could not start a Python kernel ({type(exc).__name__}: {exc})") from None
        with kernel_session(run):
            _setup(run)
            _Cells(run, report).grade(nb, checks)
    report.seconds = time.monotonic() - start
    return report


def grade_notebook(path: Path, exercises: Path, timeout: int = DEFAULT_TIMEOUT) -> NotebookReport:
    """Grade one notebook file, read once; the kernel works in a fresh empty folder, never the
    notebook's own (a class is graded by :func:`.classroom.grade`, with everything it protects)."""
    with tempfile.TemporaryDirectory(prefix="coursekit-work-") as work:
        return grade_submission(Submission.read(path), exercises, cwd=Path(work), timeout=timeout)


def _setup(run: KernelRun) -> None:
    """The guard, set up before any learner code; :class:`NotebookError` if it cannot be."""
    from nbclient.exceptions import DeadKernelError

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


def _first_line(cell: nbformat.NotebookNode) -> str:
    line = next((ln.strip() for ln in text(cell).splitlines() if ln.strip()), "")
    return line[:40] + ("…" if len(line) > 40 else "")


def _lost(names: list[str], dead: str) -> list[Score]:
    """The checks a stuck or dead kernel can no longer run."""
    return [Score(n, TIMEOUT if dead.startswith("timeout") else DIED, dead) for n in names]


@dataclass
class _Cells:
    """The notebook, cell by cell, in one kernel; what a stopped or dead kernel means for later checks."""

    run: KernelRun
    report: NotebookReport
    stopped: str = ""  # the last learner cell stopped by the time limit, said first in a later failure
    dead: str = ""  # why no later cell can run (a stuck or dead kernel)

    def grade(self, nb: nbformat.NotebookNode, checks: list[int]) -> None:
        from nbclient.exceptions import DeadKernelError

        for index, cell in enumerate(nb.cells):
            names = check_names_in(cell.source) if index in checks else []
            if self.dead:
                self.report.scores += _lost(names, self.dead)
                continue
            if cell.get("cell_type") != "code":
                continue
            try:
                if index in checks:
                    self.check(cell, index, names)
                else:
                    self.learner(cell, index)
            except DeadKernelError:
                self.dead = f"the kernel died or stopped answering at cell {index}"
                self.report.scores += _lost(names, self.dead)

    def learner(self, cell: nbformat.NotebookNode, index: int) -> None:
        error = self.run.cell(cell)
        if error is not None and error.get("ename") == TIMEOUT_ENAME:
            self.stopped = (
                f"timeout: cell {index} (`{_first_line(cell)}`) {error.get('evalue')} and was stopped"
            )
            if not self.run.responsive():
                self.dead = f"timeout: the kernel is stuck in cell {index} (it ignores the interrupt)"

    def check(self, cell: nbformat.NotebookNode, index: int, names: list[str]) -> None:
        guard, error = self.run.check(cell.source)
        if guard is None and error is not None and error.get("ename") != TIMEOUT_ENAME:
            self.report.flag(f"the grader's guard failed at cell {index} ({error.get('ename')})")
        if guard is None and error is None:
            self.report.flag(f"the grader's guard did not report at cell {index}")
            error = {"ename": "GuardMissing", "evalue": "the grader's guard did not report"}
        for f in (guard or {}).get("flags", []):
            self.report.flag(f)
        self.report.scores += score_cell(names, guard, error, self.stopped)
        if error is not None and error.get("ename") == TIMEOUT_ENAME and not self.run.responsive():
            self.dead = f"timeout: the kernel is stuck in cell {index} (it ignores the interrupt)"


def score_cell(
    names: list[str], report: dict | None, error: dict[str, object] | None, stopped: str
) -> list[Score]:
    """A check cell's scores, from the guard's signed ``report``, else from the cell's ``error``."""
    by_name = {r["name"]: r for r in (report or {}).get("results", [])}
    cell_error = (report or {}).get("error") or (None if report else error)
    scores = []
    for name in names:
        if name in by_name:
            r = by_name[name]
            status, message = str(r["status"]), str(r["message"])
            if stopped and status == "error":
                status, message = TIMEOUT, f"{stopped}; then: {message}"
            scores.append(Score(name, status, message, str(r["hint"]), str(r["detail"])))
        elif error is not None and error.get("ename") == TIMEOUT_ENAME:
            message = f"timeout: the check {error.get('evalue')} and was stopped"
            scores.append(Score(name, TIMEOUT, message, "is there an endless loop in your code?"))
        elif cell_error and cell_error.get("ename") == "NameError" and not stopped:
            # the check ran before the cell that defines what it checks (or that cell is gone)
            scores.append(Score(name, NOT_ATTEMPTED, f"not attempted: {cell_error.get('evalue')}", RUN_FIRST))
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
                hint = "run the notebook from the top: is every answer cell defined?"
                scores.append(Score(name, "error", raised, hint))
        else:
            scores.append(Score(name, "error", "the check recorded no result"))
    return scores
