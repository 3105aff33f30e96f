"""The learner's progress: which checks have passed, kept in a small JSON file.

The file is ``.coursekit-progress.json`` in the course folder (the nearest folder, from the
working directory up, that holds ``exercises/``; git ignores it), or the path in the
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
import warnings
from collections.abc import Iterator
from pathlib import Path

from .layout import check_cells, check_names_in, course_root, progress_path


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
    """``{check name: {"passed": bool, "when": iso time}}``; empty if there is no readable file.

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


def record_result(name: str, passed: bool, path: Path | None = None) -> None:
    """Note a check's latest result; a check once passed stays passed. Never raises on I/O errors."""
    path = path or progress_path()
    try:
        with _locked(path):
            checks = load(path)
            entry = checks.get(name, {})
            checks[name] = {
                "passed": bool(passed or entry.get("passed", False)),
                "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            }
            _write(path, checks)
    except OSError as exc:  # a read-only course folder must not break a check
        warnings.warn(f"could not record progress in {path}: {exc}", stacklevel=2)


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


def report(exercises: Path | None = None, path: Path | None = None) -> str:
    """A table of every exercise's checks with ✅ (passed) or ⬜ (not yet), and a total."""
    exercises = exercises or course_root() / "exercises"
    done = load(path)
    lines, total, passed = [], 0, 0
    for notebook, names in expected_checks(exercises).items():
        lines.append(notebook)
        for name in names:
            ok = bool(done.get(name, {}).get("passed"))
            lines.append(f"  {'✅' if ok else '⬜'} {name}")
            total, passed = total + 1, passed + ok
    lines.append(f"{passed} of {total} checks passed")
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
