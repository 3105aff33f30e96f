"""The course's layout: where things are and how they are marked. Standard library only,
so every part of coursekit may read it.

- the course root (the folder holding ``exercises/``), the learner's work folder (their own
  copies of the exercises, ignored by git) and the progress file kept in it;
- the one vocabulary of results (passed, failed, not attempted, error) and their symbols,
  shared by the checks in the notebook, ``coursekit progress`` and ``coursekit grade``;
- the markers of a solution region and the tag of a check cell;
- which checks a check cell runs;
- finding notebooks named on a command line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
CHECK_TAG = "check"  # cell tag of a check cell, in solutions/ and exercises/

_CALL = re.compile(r"\bcheck_answer\(\s*['\"]([\w-]+)['\"]|\bcheck_(\w+)\s*\(")


# The result of a check, one word each, and the one symbol every part of the course shows it by.
PASSED, FAILED, NOT_ATTEMPTED, ERROR = "passed", "failed", "not attempted", "error"
RESULT_SYMBOLS = {PASSED: "✅", FAILED: "❌", NOT_ATTEMPTED: "⬜", ERROR: "💥"}


# Exercises were once named like their lessons (05_skip_vs_noskip.ipynb in both folders); now
# exercise_05_skip_vs_noskip.ipynb. A learner's copy under the old name is still found.
OLD_EXERCISE_PREFIX = "exercise_"


def result_symbol(status: str) -> str:
    """The symbol of a result (``"passed"`` gives ✅); an unknown word gives ❓, never an error."""
    return RESULT_SYMBOLS.get(status, "❓")


ENV = "COURSEKIT_PROGRESS"
FILENAME = ".coursekit-progress.json"
WORK_FOLDER = "my-work"  # the learner's own copies of exercises/; git ignores it


def course_root(start: Path | None = None) -> Path:
    """The course folder: the nearest folder from ``start`` (default: the working directory) up
    holding ``exercises/``; else the clone this package was installed from (``pip install -e``);
    else ``start`` itself."""
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "exercises").is_dir():
            return folder
    clone = Path(__file__).resolve().parents[2]
    return clone if (clone / "exercises").is_dir() else here


def work_folder(root: Path | None = None) -> Path:
    """The learner's work folder, ``my-work/`` in the course folder (made by ``make lab``)."""
    return (root or course_root()) / WORK_FOLDER


def progress_path() -> Path:
    """Where progress is kept: ``$COURSEKIT_PROGRESS``, else the file in the work folder."""
    override = os.environ.get(ENV)
    return Path(override) if override else work_folder() / FILENAME


def is_check_cell(cell: dict) -> bool:
    """A code cell tagged :data:`CHECK_TAG`."""
    return cell.get("cell_type") == "code" and CHECK_TAG in cell.get("metadata", {}).get("tags", [])


def check_cells(nb: dict) -> list:
    """The check cells of a notebook (an ``nbformat`` node or the plain JSON dict), in order."""
    return [c for c in nb["cells"] if is_check_cell(c)]


def check_names_in(source: str | list[str]) -> list[str]:
    """The checks a check cell runs, in order: ``check_layer_norm(...)`` gives ``layer_norm``."""
    text = "".join(source) if isinstance(source, list) else source
    return [question or name for question, name in _CALL.findall(text) if question or name != "answer"]


def find_notebooks(paths: list[str]) -> list[Path]:
    """The notebooks named, a folder standing for the ``*.ipynb`` directly in it, in order.

    Raises ``FileNotFoundError`` naming a path that does not exist, or when none is found.
    """
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(p for p in path.glob("*.ipynb") if p.is_file())
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    if not found:
        raise FileNotFoundError(f"no notebooks in {', '.join(paths)}")
    return found
