"""``coursekit build``: make each ``exercises/X.ipynb`` from ``solutions/X.ipynb``.

A solution cell marks the learner's part with nbgrader's markers::

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

Each region becomes ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the marker's
indent. Outputs and execution counts are cleared, cell ids kept (the grader finds check cells
by id), check cells (tag ``check``) made read-only in JupyterLab, and metadata noise dropped,
so building twice changes nothing. Nested, unterminated or stray markers, and markers in
markdown or check cells, are refused with an error naming the notebook and cell.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

from ..work.layout import BEGIN, CHECK_TAG, END, STUB, course_root


class BuildError(ValueError):
    """A solution notebook the builder refuses, with the notebook and cell named."""


def _where(notebook: str, index: int, cell: nbformat.NotebookNode) -> str:
    return f"{notebook}, cell {index} (id {cell.get('id', '?')})"


def split_solution(source: str, where: str) -> tuple[list[str], list[str]]:
    """The exercise's lines and the removed solution lines of one code cell's source."""
    kept: list[str] = []
    removed: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise BuildError(f"{where}: nested {BEGIN} at line {number}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            kept += [indent + s for s in STUB]
        elif marker == END:
            if not inside:
                raise BuildError(f"{where}: {END} without a {BEGIN} at line {number}")
            inside = False
        elif inside:
            removed.append(line)
        else:
            kept.append(line)
    if inside:
        raise BuildError(f"{where}: {BEGIN} is never closed by {END}")
    return kept, removed


def _has_marker(source: str) -> bool:
    return any(line.strip() in (BEGIN, END) for line in source.splitlines())


def make_exercise(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The exercise notebook for ``solution`` (left unchanged); ``name`` is used in errors."""
    cells = []
    for index, cell in enumerate(solution.cells):
        where = _where(name, index, cell)
        if "id" not in cell:
            raise BuildError(f"{where}: the cell has no id; save the notebook with nbformat 4.5 or newer")
        tags = list(cell.get("metadata", {}).get("tags", []))
        metadata: dict[str, object] = {"tags": tags} if tags else {}
        if cell.cell_type != "code":
            if _has_marker(cell.source):
                raise BuildError(
                    f"{where}: solution markers belong in code cells, not {cell.cell_type} cells"
                )
            new = (
                nbformat.v4.new_markdown_cell if cell.cell_type == "markdown" else nbformat.v4.new_raw_cell
            )(cell.source, metadata=metadata)
        else:
            if CHECK_TAG in tags:
                if _has_marker(cell.source):
                    raise BuildError(f"{where}: a check cell cannot contain solution markers")
                metadata.update(editable=False, deletable=False)
            kept, _ = split_solution(cell.source, where)
            new = nbformat.v4.new_code_cell("\n".join(kept), metadata=metadata)
        new["id"] = cell["id"]
        cells.append(new)
    exercise = nbformat.v4.new_notebook(cells=cells)
    kernelspec = solution.metadata.get("kernelspec")
    exercise.metadata = {
        "kernelspec": kernelspec or {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "coursekit": {"exercise": name},
    }
    exercise.nbformat, exercise.nbformat_minor = 4, max(5, solution.get("nbformat_minor", 5))
    return exercise


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook as text, exactly as the builder writes it."""
    return nbformat.writes(nb) + "\n"


def _code(line: str) -> str:
    """A line without indent or trailing ``  # comment``, for comparing code."""
    return line.split("  #", 1)[0].strip()


def leaked_lines(solution: nbformat.NotebookNode, exercise_text: str, name: str) -> list[str]:
    """Solution lines (from inside the markers) that appear in an exercise's code cells."""
    removed: set[str] = set()
    kept: set[str] = set()
    for index, cell in enumerate(solution.cells):
        if cell.cell_type == "code":
            k, r = split_solution(cell.source, _where(name, index, cell))
            kept.update(map(_code, k))
            removed.update(map(_code, r))
    secret = {line for line in removed - kept if line and not line.startswith("#")}
    exercise = nbformat.reads(exercise_text, as_version=4)
    return sorted(
        {
            _code(line)
            for cell in exercise.cells
            if cell.cell_type == "code"
            for line in cell.source.splitlines()
            if _code(line) in secret
        }
    )


def build(solutions: Path, exercises: Path, check: bool = False) -> list[str]:
    """Write (or with ``check``, only compare) every exercise; return the problems found.

    Raises :class:`BuildError` for a malformed solution notebook.
    """
    problems = []
    sources = sorted(solutions.glob("*.ipynb"))
    if not sources:
        raise BuildError(f"no solution notebooks in {solutions}")
    for source in sources:
        solution = nbformat.read(source, as_version=4)
        text = render(make_exercise(solution, source.stem))
        target = exercises / source.name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if check:
            if current != text:
                problems.append(f"{target} is out of date: run `coursekit build`")
            if current is not None:
                problems += [
                    f"{target} leaks a solution line: {line}"
                    for line in leaked_lines(solution, current, source.stem)
                ]
        elif current != text:
            exercises.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    strays = {p.name for p in exercises.glob("*.ipynb")} - {p.name for p in sources}
    problems += [f"{exercises / name} has no solution in {solutions}" for name in sorted(strays)]
    return problems


def run(args: argparse.Namespace) -> int:
    root = course_root()
    solutions = Path(args.solutions) if args.solutions else root / "solutions"
    exercises = Path(args.exercises) if args.exercises else root / "exercises"
    try:
        problems = build(solutions, exercises, check=args.check)
    except (BuildError, OSError, nbformat.ValidationError, ValueError) as exc:
        print(f"coursekit build: {exc}")
        return 2
    for problem in problems:
        print(problem)
    if args.check:
        print("exercises/ is up to date" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments to its parser (made by :mod:`coursekit.course.cli`)."""
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if exercises/ is out of date or leaks a solution",
    )
    parser.add_argument("--solutions", help="folder of solution notebooks (default: the course's solutions/)")
    parser.add_argument("--exercises", help="folder of exercise notebooks (default: the course's exercises/)")
    parser.set_defaults(func=run)
