"""``coursekit export nbgrader DEST``: the course as an nbgrader course folder, one assignment per
exercise, for instructors who teach on JupyterHub with nbgrader.

From each ``solutions/X.ipynb`` it writes ``DEST/source/X/X.ipynb`` with nbgrader's cell metadata:

- a cell with ``### BEGIN SOLUTION`` regions is a **solution** cell (nbgrader's own markers, so
  ``nbgrader generate_assignment`` turns each region into ``raise NotImplementedError()`` as
  ``coursekit build`` does);
- a check cell (tag ``check``), exercise checks and the questions' hashed answers alike, is an
  **autograded test** cell worth a point per check: each ``check_...(...)`` call becomes
  ``assert check_...(...).passed``, so the cell raises when the check does not pass, and an
  untouched stub (the check says "not attempted") scores zero;
- every other cell is **locked** (read-only; nbgrader's checksums catch an edit to it).

``DEST/nbgrader_config.py`` names the course and gives each cell a generous time limit.
"""

from __future__ import annotations

import argparse
import ast
import copy
import sys
from pathlib import Path

import nbformat

from ..work.layout import BEGIN, CHECK_TAG, course_root

SCHEMA_VERSION = 3  # nbgrader's cell metadata schema
CELL_TIMEOUT = 600  # seconds per cell in autograde: exercise 5 trains networks
CONFIG = '''"""nbgrader configuration of the course exported by `coursekit export nbgrader`."""

c = get_config()  # noqa: F821 - nbgrader provides it
c.CourseDirectory.course_id = {course_id!r}
# the course's stub, as `coursekit build` writes it
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
# the exercises train small networks: minutes on a slow machine, not nbgrader's default 30 s
c.Execute.timeout = {timeout}
'''


class ExportError(ValueError):
    """A solution notebook that cannot be exported, with the notebook and cell named."""


def _meta(cell_id: str, *, solution: bool = False, grade: bool = False, points: int = 0) -> dict:
    """nbgrader's metadata for one cell: a solution, an autograded test (locked) or a locked cell."""
    meta = {
        "grade": grade,
        "grade_id": cell_id,
        "locked": not solution,
        "schema_version": SCHEMA_VERSION,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return meta


def graded_source(source: str, where: str) -> tuple[str, int]:
    """A check cell's source with each top-level ``check_...(...)`` call asserted to pass, and
    the number of checks (the cell's points). :class:`ExportError` when it calls none."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ExportError(f"{where}: the check cell is not valid Python ({exc.msg})") from None
    lines = source.splitlines()
    calls = [
        node
        for node in tree.body
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id.startswith("check_")
    ]
    if not calls:
        raise ExportError(f"{where}: a check cell must call a check_...(...) at its top level")
    for node in reversed(calls):  # bottom up, so that earlier line numbers stay right
        call = ast.get_source_segment(source, node.value)
        name = node.value.func.id  # type: ignore[union-attr]
        indent = lines[node.lineno - 1][: node.col_offset]
        assertion = f'assert {call}.passed, "{name} did not pass: the line above says why"'
        lines[node.lineno - 1 : node.end_lineno] = [indent + assertion]
    return "\n".join(lines), len(calls)


def nbgrader_notebook(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The nbgrader source notebook made from one solution notebook (which is left unchanged)."""
    nb = copy.deepcopy(solution)
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index} (id {cell.get('id', '?')})"
        if "id" not in cell:
            raise ExportError(f"{where}: the cell has no id; save the notebook with nbformat 4.5 or newer")
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if cell.cell_type == "code" and CHECK_TAG in tags:
            cell.source, points = graded_source(cell.source, where)
            cell.metadata["nbgrader"] = _meta(cell.id, grade=True, points=points)
        elif cell.cell_type == "code" and BEGIN in cell.source:
            cell.metadata["nbgrader"] = _meta(cell.id, solution=True)
        else:
            cell.metadata["nbgrader"] = _meta(cell.id)
    nb.metadata.pop("coursekit", None)
    return nb


def export_nbgrader(dest: Path, solutions: Path | None = None, course_id: str = "coursekit") -> list[str]:
    """Write the nbgrader course folder ``dest``; return the assignments, one per solution notebook.

    ``dest/source/<name>/<name>.ipynb`` for each ``solutions/<name>.ipynb``, and
    ``dest/nbgrader_config.py``. Existing files of the same names are replaced; others are kept.
    """
    solutions = solutions or course_root() / "solutions"
    paths = sorted(solutions.glob("*.ipynb"))
    if not paths:
        raise ExportError(f"no solution notebooks in {solutions}")
    notebooks = {p.stem: nbgrader_notebook(nbformat.read(p, as_version=4), p.name) for p in paths}
    for name, nb in notebooks.items():  # all made before any is written: an error leaves dest alone
        folder = dest / "source" / name
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{name}.ipynb")
    config = CONFIG.format(course_id=course_id, timeout=CELL_TIMEOUT)
    (dest / "nbgrader_config.py").write_text(config, encoding="utf-8")
    return list(notebooks)


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 written; 2 the export could not be made."""
    dest = Path(args.dest)
    try:
        names = export_nbgrader(dest, Path(args.solutions) if args.solutions else None, args.course_id)
    except (ExportError, OSError) as exc:
        print(f"coursekit export: {exc}", file=sys.stderr)
        return 2
    print(f"wrote an nbgrader course in {dest}: {len(names)} assignments ({', '.join(names)})")
    print(f"next: cd {dest} && nbgrader generate_assignment ASSIGNMENT (see the README's instructor section)")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments to its parser (made by :mod:`coursekit.course.cli`)."""
    parser.add_argument("format", choices=["nbgrader"], help="the tool to export to")
    parser.add_argument("dest", metavar="DEST", help="the course folder to write (made if missing)")
    parser.add_argument("--solutions", help="folder of solution notebooks (default: the course's solutions/)")
    parser.add_argument("--course-id", default="coursekit", help="nbgrader's course id (default coursekit)")
    parser.set_defaults(func=run)
