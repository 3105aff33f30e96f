"""A class of notebooks: graded one after another or in parallel processes (a fresh kernel per
notebook either way), or one shard of the class; shard reports merged back into the class report.

The reports are in the order the notebooks were named, whatever order they finish in, so
``--jobs`` and ``--shard``/``--merge`` give the report of a single run.
"""

from __future__ import annotations

import functools
import hashlib
import io
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...work.layout import course_root, find_notebooks
from .isolation import CULPRIT, Custody, Watch, grade_in_box
from .notebook import DEFAULT_TIMEOUT, Submission
from .report import GradeError, NotebookError, NotebookReport, graded_line, json_document, short_names
from .sandbox import SandboxError, bwrap_works, choose

LIBRARY = Path(__file__).resolve().parents[2]  # the installed coursekit package, watched while grading
STOP_SECONDS = 60  # how long a stopped worker gets to shut its kernel down before it is killed


def default_jobs() -> int:
    """The cores this process may run on (``--jobs``' default)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Shard:
    """The ``index``-th of ``count`` parts of a class (1-based, as ``--shard 1/4`` .. ``4/4``)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"i/n"`` with 1 <= i <= n; :class:`GradeError` naming the bad value otherwise."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise GradeError(f"--shard must be i/n (for example 1/4), got {text!r}") from None
        if not 1 <= index <= count:
            raise GradeError(f"--shard i/n needs 1 <= i <= n, got {text!r}")
        return cls(index, count)

    def holds(self, path: Path) -> bool:
        """Stable by file name alone: a notebook stays in its shard whatever else is in the folder."""
        digest = hashlib.sha256(path.name.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


def class_notebooks(paths: list[str], shard: Shard | None = None) -> list[tuple[int, Path]]:
    """The notebooks named (folders included), each with its place in the whole class; one shard's only
    if ``shard`` is given. :class:`GradeError` when a path does not exist or none is found."""
    try:
        notebooks = find_notebooks(paths)
    except FileNotFoundError as exc:
        raise GradeError(str(exc)) from None
    return [(k, p) for k, p in enumerate(notebooks) if shard is None or shard.holds(p)]


def grade_one(
    submission: Submission, course: Path, timeout: int, sandbox: str = "none", exercises: str = ""
) -> NotebookReport:
    """One notebook's report, graded in a box of its own against the pristine ``course``
    (:func:`.isolation.grade_in_box`); one that cannot be graded gets a report saying why (naming
    ``exercises``, the folder the pristine exercises were read from)."""
    try:
        return grade_in_box(submission, course, timeout, sandbox)
    except NotebookError as exc:
        problem = str(exc).replace(str(course / "exercises"), exercises or str(course / "exercises"))
        return NotebookReport(str(submission.path), problem=problem)


class Graded(list):
    """The reports, in the order named, and the run's ``isolation`` section (:meth:`.Custody.summary`)."""

    isolation: dict


def grade(
    paths: list[str],
    exercises: Path | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    log: io.TextIOBase | None = None,
    *,
    jobs: int = 1,
    shard: Shard | None = None,
    sandbox: str = "auto",
) -> Graded:
    """Grade every notebook named (folders included) with ``jobs`` at a time, one line to ``log`` as
    each is done; the reports in the order named. A notebook that cannot be graded gets a report
    with ``problem`` set; the others are graded. Every notebook is read before the first kernel
    starts and graded from a private copy, under ``sandbox`` (:mod:`.sandbox`), against a pristine
    library, everything checked before and after each (:mod:`.isolation`). :class:`GradeError`
    when grading cannot run."""
    if jobs < 1:
        raise GradeError(f"--jobs must be at least 1, got {jobs}")
    try:
        level = choose(sandbox)
    except SandboxError as exc:
        raise GradeError(str(exc)) from None
    exercises = exercises or course_root() / "exercises"
    notebooks = [p for _, p in class_notebooks(paths, shard)]
    names = short_names([str(p) for p in notebooks])
    read: dict[int, Submission | NotebookReport] = {}
    for k, path in enumerate(notebooks):
        try:
            read[k] = Submission.read(path)
        except NotebookError as exc:
            read[k] = NotebookReport(str(path), problem=str(exc))
    submissions = {s.path: s.data for s in read.values() if isinstance(s, Submission)}
    custody = Custody.start(submissions, LIBRARY, exercises)
    watch = Watch(custody, names)
    work = functools.partial(
        grade_one, course=custody.course, timeout=timeout, sandbox=level, exercises=str(exercises)
    )
    try:
        reports = _grade_all(read, work, jobs, watch, log, names)
    finally:
        custody.finish()
    graded = Graded(reports)
    graded.isolation = custody.summary(level, bwrap_works() if sandbox == "auto" and level == "none" else "")
    return graded


def _grade_all(
    read: dict[int, Submission | NotebookReport],
    work: Callable[[Submission], NotebookReport],
    jobs: int,
    watch: Watch,
    log: io.TextIOBase | None,
    names: list[str],
) -> list[NotebookReport]:
    """Every notebook graded (those that could not be read: their report as it is), then those a
    library change may have touched graded again, alone."""
    done = 0

    def finished(k: int, report: NotebookReport) -> None:
        nonlocal done
        done += 1
        if log is not None:
            log.write(graded_line(done, len(read), names[k], report) + "\n")
            log.flush()

    todo = [k for k, s in read.items() if isinstance(s, Submission)]
    reports: dict[int, NotebookReport] = {k: r for k, r in read.items() if isinstance(r, NotebookReport)}
    for k in reports:
        finished(k, reports[k])
    if jobs == 1 or len(todo) <= 1:
        for k in todo:
            watch.check([])
            reports[k] = work(read[k])  # type: ignore[arg-type]
            watch.check([k])
            finished(k, watch.flagged(k, reports[k]))
    else:
        reports |= _in_parallel({k: read[k] for k in todo}, work, min(jobs, len(todo)), finished, watch)  # type: ignore[misc]
    for k in sorted(watch.again):
        if log is not None:
            log.write(f"{names[k]}: graded again, alone (the library changed while it ran beside others)\n")
        first, reports[k] = reports[k], work(read[k])  # type: ignore[arg-type]
        watch.check([k])
        for flag in first.flags:  # what was seen while it ran beside others still holds
            if flag.startswith(CULPRIT):
                reports[k].flag(flag)
        finished(k, watch.flagged(k, reports[k]))
    return [reports[k] for k in range(len(read))]


def _worker(
    send: multiprocessing.connection.Connection,
    work: Callable[[Submission], NotebookReport],
    submission: Submission,
) -> None:
    """A worker process: grades one notebook, sends (report, error). Ctrl-C is the parent's to handle;
    the parent stops a worker with SIGTERM, raised here as KeyboardInterrupt so the kernel is shut down."""
    signal.signal(signal.SIGINT, lambda *_: None)  # a handler, not SIG_IGN: the kernel must not inherit it
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        send.send((work(submission), ""))
    except GradeError as exc:
        send.send((None, str(exc)))
    except KeyboardInterrupt:  # stopped by the parent: the kernel is shut down already, nothing to say
        pass
    finally:
        send.close()


def _in_parallel(
    notebooks: dict[int, Submission],
    work: Callable[[Submission], NotebookReport],
    jobs: int,
    finished: Callable[[int, NotebookReport], None],
    watch: Watch,
) -> dict[int, NotebookReport]:
    """Each notebook in a process of its own, ``jobs`` at a time, ``watch`` checking before each
    starts and after each ends; on any exit (Ctrl-C included) the running ones are stopped and
    waited for, so no kernel outlives the command."""
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    reports: dict[int, NotebookReport] = {}
    waiting = sorted(notebooks)[::-1]
    running: dict[int, tuple[multiprocessing.process.BaseProcess, multiprocessing.connection.Connection]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                k = waiting.pop()
                watch.check(sorted(running))
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_worker, args=(send, work, notebooks[k]))
                process.start()
                send.close()
                running[k] = (process, receive)
            ready = multiprocessing.connection.wait([c for _, c in running.values()])
            for k in [k for k, (_, c) in running.items() if c in ready]:
                process, receive = running.pop(k)
                reports[k] = _receive(receive, notebooks[k].path)
                process.join()
                watch.check(sorted([k, *running]))
                finished(k, watch.flagged(k, reports[k]))
    finally:
        _stop([process for process, _ in running.values()])
    return reports


def _receive(receive: multiprocessing.connection.Connection, path: Path) -> NotebookReport:
    try:
        report, error = receive.recv()
    except EOFError:  # the worker died (killed, out of memory) before it could report
        return NotebookReport(str(path), problem="the grading process stopped before it reported")
    finally:
        receive.close()
    if error:
        raise GradeError(error)
    return report


def _stop(processes: list[multiprocessing.process.BaseProcess]) -> None:
    """Stop workers still running (each shuts its kernel down), then wait for them; kill the stuck."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()


def shard_document(reports: list[NotebookReport], shard: Shard, positions: list[int], size: int) -> dict:
    """A shard's JSON report: the class report of its notebooks, and where each stands in the class."""
    document = json_document(reports)
    document["shard"] = {"index": shard.index, "of": shard.count, "class": size, "positions": positions}
    return document


def merge(documents: list[dict]) -> list[NotebookReport]:
    """The class's reports, in class order, from every shard's JSON report (each exactly once).

    :class:`GradeError` naming what is wrong: not a shard report, shards of different classes,
    a shard missing or given twice."""
    shards = []
    for document in documents:
        if not isinstance(document, dict) or "shard" not in document:
            raise GradeError("--merge takes the JSON reports written by `coursekit grade --shard i/n`")
        shards.append(document["shard"])
    counts = {(s["of"], s["class"]) for s in shards}
    if len(counts) != 1:
        raise GradeError(f"--merge: the reports are of different classes or splits ({sorted(counts)})")
    ((count, size),) = counts
    indices = sorted(s["index"] for s in shards)
    if indices != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(indices))
        twice = sorted({i for i in indices if indices.count(i) > 1})
        raise GradeError(f"--merge needs each of the {count} shards once: missing {missing}, twice {twice}")
    placed = {
        k: NotebookReport.from_json(r)
        for document in documents
        for k, r in zip(document["shard"]["positions"], document["notebooks"], strict=True)
    }
    if sorted(placed) != list(range(size)):
        raise GradeError(f"--merge: the shards hold {len(placed)} of the class's {size} notebooks")
    return [placed[k] for k in range(size)]
