"""``coursekit grade``'s command line: arguments in, the line per notebook, table, summary, JSON
and CSV out; ``--jobs`` for a class in parallel, ``--shard``/``--merge`` for a batch scheduler."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from ...work.layout import work_folder
from .classroom import Graded, Shard, class_notebooks, default_jobs, grade, merge, shard_document
from .isolation import format_isolation, merge_isolation
from .notebook import DEFAULT_TIMEOUT
from .report import (
    UNGRADED,
    GradeError,
    NotebookReport,
    format_summary,
    format_table,
    json_document,
    write_csv,
)
from .sandbox import LEVELS


def _write_json(path: str, document: dict) -> None:
    Path(path).write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _merged(files: list[str]) -> Graded:
    documents = []
    for name in files:
        try:
            documents.append(json.loads(Path(name).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise GradeError(f"--merge: cannot read {name} ({type(exc).__name__})") from None
    graded = Graded(merge(documents))
    graded.isolation = merge_isolation(documents)
    return graded


def _graded(args: argparse.Namespace, grade: Callable) -> tuple[list[NotebookReport], dict | None]:
    """The reports, and the shard's JSON document when grading one shard."""
    if args.timeout <= 0:
        raise GradeError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.merge:
        if args.notebooks or args.shard:
            raise GradeError("--merge takes shard reports only: no notebooks, no --shard")
        return _merged(args.merge), None
    # no notebook named: the learner's own work folder, my-work/ (coursekit/course/workspace.py)
    notebooks = args.notebooks or [str(work_folder())]
    exercises = Path(args.exercises) if args.exercises else None
    shard = Shard.parse(args.shard) if args.shard else None
    reports = grade(
        notebooks, exercises, args.timeout, log=sys.stdout, jobs=args.jobs, shard=shard, sandbox=args.sandbox
    )
    if shard is None:
        return reports, None
    positions = [k for k, _ in class_notebooks(notebooks, shard)]
    document = shard_document(reports, shard, positions, len(class_notebooks(notebooks)))
    return reports, {**document, "isolation": getattr(reports, "isolation", None)}


def run(args: argparse.Namespace, grade: Callable = grade, format_table: Callable = format_table) -> int:
    """Exit status: 0 every notebook graded; 1 some could not be graded; 2 grading could not run;
    130 stopped by Ctrl-C (every kernel shut down). ``grade`` and ``format_table``: see the package's
    ``run``, which passes its own (a test may replace them there)."""
    try:
        reports, shard = _graded(args, grade)
    except GradeError as exc:
        print(f"coursekit grade: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ncoursekit grade: stopped (Ctrl-C); the kernels it started are shut down", file=sys.stderr)
        return 130
    isolation = getattr(reports, "isolation", None)
    print()
    print(format_table(reports))
    if isolation:
        print(format_isolation(isolation))
    if len(reports) > 1:
        print()
        print(format_summary(reports))
    if shard is not None:
        _write_json(
            args.json or f"grade-shard-{shard['shard']['index']}-of-{shard['shard']['of']}.json", shard
        )
    elif args.json:
        _write_json(args.json, {**json_document(reports), "isolation": isolation})
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            write_csv(reports, f)
    ungraded = [r for r in reports if not r.graded]
    for r in ungraded:
        print(f"coursekit grade: {r.path}: {UNGRADED}: {r.problem}", file=sys.stderr)
    return 1 if ungraded else 0


def register(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int] = run) -> None:
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
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        metavar="N",
        help="notebooks graded at once, each in its own process and fresh kernel "
        "(default: this machine's cores)",
    )
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="grade only the I-th of N parts of the class (stable by file name) and write its JSON report "
        "(--json, default grade-shard-I-of-N.json), for a batch scheduler's array job",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="REPORT",
        help="merge the JSON reports of every shard into the one class report (table, --json, --csv)",
    )
    parser.add_argument(
        "--sandbox",
        choices=LEVELS,
        default="auto",
        help="run each kernel in a sandbox: bwrap (bubblewrap: the machine read-only, no network), none, "
        "or auto (bwrap where it works here, else none); every level grades each notebook from a private "
        "copy against a pristine library, checked after each notebook",
    )
    parser.set_defaults(func=run)
