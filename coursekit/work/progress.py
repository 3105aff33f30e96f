"""The learner's progress: the latest result of each check, kept in a small JSON file.

Each check's entry is its *latest* result (a pass goes away when a broken version is run
again), with the status word and symbol every part of the course uses
(:data:`~coursekit.work.layout.RESULT_SYMBOLS`) and the hint, if any.

The file is ``.coursekit-progress.json`` in the learner's work folder ``my-work/`` of the
course folder (the nearest folder, from the working directory up, that holds ``exercises/``;
git ignores it), or the path in the
environment variable ``COURSEKIT_PROGRESS``, which tests and the grader set so they never
touch a learner's record. Writes are atomic (a temporary file renamed over the old one,
under a lock), so two kernels writing at once lose nothing and a crash leaves the old file;
a file that cannot be read is set aside with a warning, never a crash.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import tempfile
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

from .layout import (
    FAILED,
    NOT_ATTEMPTED,
    PASSED,
    RESULT_SYMBOLS,
    check_cells,
    check_names_in,
    course_root,
    progress_path,
    result_symbol,
)

WIDTH = 88  # hints are wrapped at word boundaries to this width


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file's folder (POSIX), so no lock file is left behind.

    Elsewhere (Windows) only the atomic rename protects the file.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def load(path: Path | None = None) -> dict[str, dict[str, object]]:
    """``{check name: {"passed": bool, "status": word, "hint": str, "when": iso time}}``.

    Empty if there is no readable file. (Files written before ``status`` existed have only
    ``passed`` and ``when``: :func:`status_of` reads both.)

    A corrupt file is renamed to ``<name>.corrupt`` with a warning, and progress starts afresh.
    """
    path = path or progress_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        checks = data["checks"]
        if not isinstance(checks, dict):
            raise TypeError("checks is not a mapping")
        return checks
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        backup = path.with_name(path.name + ".corrupt")
        with contextlib.suppress(OSError):
            os.replace(path, backup)
        warnings.warn(
            f"progress file {path} could not be read ({exc}); set aside as {backup.name}, starting afresh",
            stacklevel=2,
        )
        return {}


def _write(path: Path, checks: dict[str, dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": 1, "checks": checks}, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def record_result(
    name: str, passed: bool, path: Path | None = None, *, status: str | None = None, hint: str = ""
) -> None:
    """Note a check's latest result, replacing the one before: a pass goes away after a
    failing re-run. ``status`` is one of :data:`RESULT_SYMBOLS`' words (default: passed or
    failed, from ``passed``). Never raises on I/O errors."""
    path = path or progress_path()
    status = status if status in RESULT_SYMBOLS else (PASSED if passed else FAILED)
    try:
        with _locked(path):
            checks = load(path)
            checks[name] = {
                "passed": status == PASSED,
                "status": status,
                "hint": hint if status != PASSED else "",
                "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            }
            _write(path, checks)
    except OSError as exc:  # a read-only course folder must not break a check
        warnings.warn(f"could not record progress in {path}: {exc}", stacklevel=2)


def status_of(entry: dict[str, object] | None) -> str:
    """The status word of a progress entry; a check never run is "not attempted"."""
    if not entry:
        return NOT_ATTEMPTED
    status = entry.get("status")
    if status in RESULT_SYMBOLS:
        return str(status)
    return PASSED if entry.get("passed") else FAILED


def expected_checks(exercises: Path) -> dict[str, list[str]]:
    """``{notebook stem: [check names]}`` for every exercise notebook, in order.

    Read as plain JSON (exercises are nbformat 4, written by ``coursekit build``): importing
    nbformat would cost seconds of start-up for a command that must answer at once.
    """
    result = {}
    for notebook in sorted(exercises.glob("*.ipynb")):
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        result[notebook.stem] = [name for cell in check_cells(nb) for name in check_names_in(cell["source"])]
    return result


def wrap(text: str, indent: str, width: int = WIDTH) -> list[str]:
    """``text`` wrapped at word boundaries (never inside a word), each line indented."""
    return textwrap.wrap(
        " ".join(text.split()),
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def report(exercises: Path | None = None, path: Path | None = None, width: int = WIDTH) -> str:
    """Every exercise's checks with the symbol of their latest result and its hint, and a total.

    The list of checks comes from the exercise templates (``exercises/``); the results come
    from the progress file (by default in the learner's work folder).
    """
    exercises = exercises or course_root() / "exercises"
    done = load(path)
    lines, total, passed = [], 0, 0
    for notebook, names in expected_checks(exercises).items():
        lines.append(notebook)
        for name in names:
            entry = done.get(name)
            status = status_of(entry)
            lines.append(f"  {result_symbol(status)} {name}: {status}")
            hint = str((entry or {}).get("hint") or "")
            if hint and status != PASSED:
                lines += wrap(f"hint: {hint}", "      ", width)
            total, passed = total + 1, passed + (status == PASSED)
    legend = ", ".join(f"{symbol} {word}" for word, symbol in RESULT_SYMBOLS.items())
    lines.append(f"{passed} of {total} checks passed  ({legend})")
    return "\n".join(lines)


def show_progress() -> None:
    """Print the progress table (for the start-here notebook)."""
    print(report())


def run(args: argparse.Namespace) -> int:
    exercises = Path(args.exercises) if args.exercises else None
    if exercises is not None and not exercises.is_dir():
        print(f"coursekit progress: no folder {exercises}")
        return 2
    print(report(exercises))
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments to its parser (made by :mod:`coursekit.course.cli`)."""
    parser.add_argument("--exercises", help="folder of exercise notebooks (default: the course's exercises/)")
    parser.set_defaults(func=run)
