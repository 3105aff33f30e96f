"""The grading run's custody of what it must not lose: the class's notebooks, the course library
and the pristine exercises, each read into memory once, before the first kernel starts.

Every notebook is graded from a private copy of its bytes in a fresh working folder of its own
(:func:`box`); its kernel imports the course library from a pristine copy (a course folder of
``coursekit/`` and ``exercises/``, first on the kernel's ``PYTHONPATH``). Before and after each
notebook, :meth:`Custody.verify` compares everything on disk with what was read: a classmate's
notebook changed or gone is reported loudly (never silently restored: its original is written to
a recovery folder it names); the installed library, the exercises and the pristine copy are put
back from memory, so the next notebook is graded against the pristine library; the notebook(s)
running when the change appeared are flagged.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .notebook import Submission
from .report import NotebookReport
from .sandbox import WORK_MB

CULPRIT = "files outside its own working folder changed while it ran"
TOKEN_ENV = "COURSEKIT_GRADE_KERNEL"  # marks a kernel's processes, so those it leaves behind can be found
SUBMISSION, LIBRARY, EXERCISES, PRISTINE = (
    "a learner's notebook",
    "the installed course library",
    "the pristine exercises",
    "the kernels' pristine library",
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (bytecode caches aside), by path relative to it."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    """``root`` made anew holding exactly ``files`` (whatever else was there is removed)."""
    shutil.rmtree(root, ignore_errors=True)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


@dataclass(frozen=True)
class Change:
    """A file that is no longer what was read: ``how`` is 'changed', 'missing' or 'added'."""

    kind: str
    path: Path
    how: str
    digest: str = ""  # of what is there now, so a notebook changed again is a new change


def tree_changes(kind: str, root: Path, files: dict[str, bytes]) -> list[Change]:
    """What differs under ``root`` from ``files`` (by SHA-256), bytecode caches aside."""
    try:
        now = read_tree(root)
    except OSError:
        now = {}
    changes = [Change(kind, root / n, "missing") for n in files if n not in now]
    changes += [
        Change(kind, root / n, "changed") for n in files if n in now and sha256(now[n]) != sha256(files[n])
    ]
    return changes + [Change(kind, root / n, "added") for n in now if n not in files]


@dataclass
class Custody:
    """Everything read at the start of a grading run, and what became of it.

    ``submissions``: each notebook's path and bytes; ``library``/``exercises``: the installed
    folders and their files; ``course``: the pristine course folder the kernels import from;
    ``events``: every change seen, in order (what, which file, the notebooks running, where the
    kept copy went)."""

    submissions: dict[Path, bytes]
    library: Path
    exercises: Path
    run_dir: Path
    library_files: dict[str, bytes]
    exercise_files: dict[str, bytes]
    recovery: Path | None = None
    recovery_parent: Path = field(default_factory=Path.cwd)
    events: list[dict] = field(default_factory=list)
    known: set[Change] = field(default_factory=set)

    @classmethod
    def start(cls, submissions: dict[Path, bytes], library: Path, exercises: Path) -> Custody:
        """Read the library and the exercises, and make the pristine course folder for the kernels."""
        run_dir = Path(tempfile.mkdtemp(prefix="coursekit-grade-"))
        custody = cls(submissions, library, exercises, run_dir, read_tree(library), read_tree(exercises))
        custody.remake()
        return custody

    @property
    def course(self) -> Path:
        """The pristine course folder: ``coursekit/`` and ``exercises/`` as read at the start."""
        return self.run_dir / "course"

    def remake(self) -> None:
        """The pristine course folder made anew from memory."""
        write_tree(self.course / "coursekit", self.library_files)
        write_tree(self.course / "exercises", self.exercise_files)

    def verify(self) -> list[Change]:
        """Every file that is not what was read at the start."""
        changes = []
        for path, data in self.submissions.items():
            try:
                now = path.read_bytes()
            except OSError:
                changes.append(Change(SUBMISSION, path, "missing"))
                continue
            if sha256(now) != sha256(data):
                changes.append(Change(SUBMISSION, path, "changed", sha256(now)))
        changes += tree_changes(LIBRARY, self.library, self.library_files)
        changes += tree_changes(EXERCISES, self.exercises, self.exercise_files)
        changes += tree_changes(PRISTINE, self.course / "coursekit", self.library_files)
        return changes + tree_changes(PRISTINE, self.course / "exercises", self.exercise_files)

    def settle(self, running: list[str]) -> list[Change]:
        """Verify; report each new change loudly (stderr, :attr:`events`), keep each lost notebook's
        original in the recovery folder, put the library, exercises and pristine copy back.
        ``running``: the notebooks being graded when the change appeared. The new changes found
        (a notebook still missing since the last check is not new)."""
        changes = [c for c in self.verify() if c not in self.known]
        for change in changes:
            kept = self._keep(change)
            self.events.append(
                {
                    "kind": change.kind,
                    "path": str(change.path),
                    "how": change.how,
                    "running": running,
                    "kept": kept,
                }
            )
            print(
                f"coursekit grade: ⚠ {change.kind} {change.how}: {change.path} (while grading "
                f"{', '.join(running) or 'nothing'}); {kept}",
                file=sys.stderr,
                flush=True,
            )
        if any(c.kind != SUBMISSION for c in changes):
            self._restore()
        self.known |= {c for c in changes if c.kind == SUBMISSION}
        return changes

    def _keep(self, change: Change) -> str:
        """Where the original went: a lost notebook to the recovery folder (never back in place)."""
        if change.kind == SUBMISSION:
            return f"its original is kept in {self.recover(change.path)}"
        if change.kind == PRISTINE:
            return "the pristine copy is made anew for the next notebook"
        if change.how == "added":
            return f"moved to {self.recover(change.path, move=True)}"
        if change.how == "changed":
            kept = self.recover(change.path, move=True)
            return f"put back as it was read (what replaced it is kept in {kept})"
        return "put back as it was read"

    def recover(self, path: Path, move: bool = False) -> Path:
        """Write the original of notebook ``path`` into the recovery folder (or move a library file
        that was added or changed there: nothing anyone wrote is destroyed)."""
        if self.recovery is None:
            name = f"coursekit-grade-recovery-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
            for parent in (self.recovery_parent.resolve(), Path(tempfile.gettempdir())):
                with contextlib.suppress(OSError):
                    (parent / name).mkdir(parents=True)
                    self.recovery = parent / name  # in the working folder, else (read-only) the temp folder
                    break
            if self.recovery is None:
                raise OSError(f"no folder to keep the originals in ({name}): the report's events name them")
        absolute = path.resolve()
        target = self.recovery / absolute.relative_to(absolute.anchor)  # its whole path, under the folder
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            with contextlib.suppress(OSError):
                shutil.move(path, target)
        else:
            target.write_bytes(self.submissions[path])
        return target

    def _restore(self) -> None:
        """The installed library and exercises put back from memory (added files were moved away)."""
        for root, files in ((self.library, self.library_files), (self.exercises, self.exercise_files)):
            for name, data in files.items():
                path = root / name
                with contextlib.suppress(OSError):
                    if not path.is_file() or sha256(path.read_bytes()) != sha256(data):
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(data)
        self.remake()

    def finish(self) -> None:
        """The last check; every lost notebook's kept copy written again (a later kernel may have
        removed the recovery folder); the pristine course folder removed."""
        self.settle([])
        for event in self.events:
            if event["kind"] == SUBMISSION:
                self.recover(Path(event["path"]))
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def summary(self, sandbox: str, why_not_bwrap: str = "") -> dict:
        """The report's ``isolation`` section (``why_not_bwrap``: why ``auto`` found no sandbox)."""
        summary = {
            "sandbox": sandbox,
            "events": self.events,
            "recovery": str(self.recovery) if self.recovery else None,
        }
        return {**summary, "why_not_bwrap": why_not_bwrap} if why_not_bwrap else summary


def culprit_flag(changes: list[Change], running: list[str]) -> str:
    """The flag for a notebook graded when ``changes`` appeared (``running``: all being graded then)."""
    what = []
    for kind in dict.fromkeys(c.kind for c in changes):
        files = [f"{c.path.name} {c.how}" for c in changes if c.kind == kind]
        what.append(
            f"{kind}: {', '.join(files[:3])}" + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        )
    who = "" if len(running) <= 1 else f" (one of the {len(running)} being graded then: {', '.join(running)})"
    return f"{CULPRIT}{who}: {'; '.join(what)}"


@contextlib.contextmanager
def box(name: str, data: bytes) -> Iterator[tuple[Path, Path]]:
    """A fresh folder for one notebook: ``work/`` (the kernel's working folder, holding the private
    copy) and the box itself (scratch and runtime live in it); removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="coursekit-box-") as folder:
        root = Path(folder)
        (root / "work").mkdir()
        (root / "work" / name).write_bytes(data)
        yield root, root / "work"


def kernel_env(course: Path, token: str) -> dict[str, str]:
    """The kernel's environment additions: the pristine course first on ``PYTHONPATH``, no bytecode
    written, and a token its processes inherit (see :func:`reap`)."""
    path = [str(course), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(path), "PYTHONDONTWRITEBYTECODE": "1", TOKEN_ENV: token}


def reap(token: str) -> int:
    """Kill the processes a kernel left behind (those carrying its token; Linux's /proc). How many."""
    mark = f"{TOKEN_ENV}={token}".encode()
    killed = 0
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if mark in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


def grade_in_box(submission: Submission, course: Path, timeout: int, sandbox: str) -> NotebookReport:
    """Grade ``submission`` from its private copy in a box of its own, the kernel importing the
    pristine ``course`` (and under bwrap when ``sandbox`` says so); processes it leaves are killed."""
    from .notebook import grade_submission
    from .sandbox import bwrap_prefix, kernel_manager

    token = secrets.token_hex(8)
    with box(submission.path.name, submission.data) as (root, work):

        def launch(scratch: Path) -> tuple[object, dict]:
            if sandbox != "bwrap":
                return None, kernel_env(course, token)
            (root / "runtime").mkdir()
            prefix = bwrap_prefix([root, scratch], work, work / submission.path.name)
            return kernel_manager(prefix, root / "runtime"), kernel_env(course, token)

        try:
            report = grade_submission(
                submission, course / "exercises", cwd=work, timeout=timeout, launch=launch
            )
        finally:
            reap(token)
        for flag in reach_flags(submission.data):
            report.flag(flag)
        size = sum(p.stat().st_size for p in work.rglob("*") if p.is_file() and not p.is_symlink())
        if size > WORK_MB * 2**20:
            report.flag(
                f"its working folder held {size / 2**20:.0f} MB at the end (the sandbox allows {WORK_MB})"
            )
        return report


_REACH = [
    (
        re.compile(
            r"\bos\.(remove|unlink|rmdir|removedirs|rename|replace)\b|\bshutil\.(rmtree|move)\b|\.unlink\(|\.rmdir\("
        ),
        "deletes or moves files",
    ),
    (
        re.compile(r"\bsubprocess\b|\bPopen\b|\bos\.(system|fork|spawn\w*|exec\w*|posix_spawn\w*)\b"),
        "starts processes",
    ),
    (re.compile(r"\.write_(text|bytes)\(|\bopen\([^)]*['\"][rwxa]?[wax+]b?['\"]"), "writes files"),
]


def reach_flags(data: bytes) -> list[str]:
    """What in the learner's own code reaches beyond its kernel (files, processes): a sandbox stops
    it, a reader should still look; a pristine check cell never does this."""
    from .matching import parse_notebook, text

    try:
        cells = parse_notebook(data).cells
    except Exception:  # noqa: BLE001 - a notebook that cannot be parsed is reported elsewhere
        return []
    flags = []
    for k, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        for pattern, what in _REACH:
            m = pattern.search(text(cell))
            if m and what not in " ".join(flags):
                flags.append(f"cell {k} {what}: {m.group(0).strip()[:40]}")
    return flags


@dataclass
class Watch:
    """A class's grading under :class:`Custody`: the check before each notebook starts and after
    each ends, the flags for the notebooks running when a change appeared, and those to grade again
    alone (a library change seen while several ran: any of them may have been graded against it)."""

    custody: Custody
    names: list[str]
    flags: dict[int, list[str]] = field(default_factory=dict)
    again: set[int] = field(default_factory=set)

    def check(self, running: list[int]) -> None:
        changes = self.custody.settle([self.names[k] for k in running])
        if not changes or not running:
            return
        if len(running) > 1 and any(c.kind != SUBMISSION for c in changes):
            self.again.update(running)
        if len(running) == 1 or any(c.kind == SUBMISSION for c in changes):
            flag = culprit_flag(changes, [self.names[k] for k in running])
            for k in running:
                self.flags.setdefault(k, []).append(flag)

    def flagged(self, k: int, report: NotebookReport) -> NotebookReport:
        """``report`` with the flags :meth:`check` found for notebook ``k``."""
        for flag in self.flags.pop(k, []):
            report.flag(flag)
        return report


SANDBOX_WORDS = {
    "bwrap": "bwrap: each kernel saw the machine read-only, its own working folder, no network",
    "none": "none: each kernel could write wherever this user can; what it changed was found after it",
}


def format_isolation(info: dict | None) -> str:
    """The table's lines on the sandbox used and on anything changed during grading."""
    if not info:
        return ""
    levels = info["sandbox"] if isinstance(info["sandbox"], list) else [info["sandbox"]]
    lines = [f"sandbox: {SANDBOX_WORDS.get(level, level)}" for level in levels]
    if info.get("why_not_bwrap"):
        lines.append(f"  (no bwrap here: {info['why_not_bwrap']})")
    events = info.get("events") or []
    if events:
        lost = sum(e["kind"] == SUBMISSION for e in events)
        lines.append(
            f"⚠ {len(events)} file(s) changed during grading, {lost} of them learners' notebooks"
            + (f" (originals kept in {info['recovery']})" if info.get("recovery") else "")
            + ": see the flagged notebooks and the JSON's isolation.events"
        )
    return "\n".join(lines)


def merge_isolation(documents: list[dict]) -> dict | None:
    """The shards' ``isolation`` sections as one."""
    parts = [d["isolation"] for d in documents if d.get("isolation")]
    if not parts:
        return None
    recovery = [p["recovery"] for p in parts if p.get("recovery")]
    levels = sorted({p["sandbox"] for p in parts})
    merged = {
        "sandbox": levels[0] if len(levels) == 1 else levels,
        "events": [e for p in parts for e in p["events"]],
        "recovery": "; ".join(recovery) or None,
    }
    why = next((p["why_not_bwrap"] for p in parts if p.get("why_not_bwrap")), "")
    return {**merged, "why_not_bwrap": why} if why else merged
