"""Reading a learner's notebook, finding the exercise it answers, and putting the exercise's
pristine check cells back into it (matched by cell id, else by content)."""

from __future__ import annotations

import collections
import copy
import warnings
from pathlib import Path

import nbformat

from ...work.layout import check_cells, check_names_in
from .report import NotebookError


def text(cell: dict) -> str:
    """A cell's source as one string (nbformat 3 and some tools store a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _normal(cell: dict) -> str:
    return "\n".join(line.strip() for line in text(cell).strip().splitlines() if line.strip())


def _same_content(exercise_cell: dict, learner_cell: dict) -> bool:
    if exercise_cell.get("cell_type") != learner_cell.get("cell_type"):
        return False
    if _normal(exercise_cell) == _normal(learner_cell):
        return True
    names = check_names_in(text(exercise_cell))
    if names and check_names_in(text(learner_cell)) == names:
        return True
    first = _normal(exercise_cell).split("\n", 1)[0]  # an answer cell: `class LayerNorm(nn.Module):`
    return (
        bool(first)
        and exercise_cell.get("cell_type") == "code"
        and (first.startswith(("class ", "def ")) and _normal(learner_cell).split("\n", 1)[0] == first)
    )


def _kind_ok(exercise_cell: dict, learner_cell: dict) -> bool:
    return exercise_cell.get("cell_type") == learner_cell.get("cell_type")


def _match(exercise: list, learner: list) -> dict[int, int]:
    """Exercise cell index -> learner cell index: by id, else by content, in order."""
    ids: dict[str, list[int]] = collections.defaultdict(list)
    for k, c in enumerate(learner):
        if c.get("id"):
            ids[c["id"]].append(k)
    found: dict[int, int] = {}
    used: set[int] = set()
    for e, cell in enumerate(exercise):
        k = ids.get(cell.get("id") or "", [])
        if len(k) == 1 and _kind_ok(cell, learner[k[0]]):
            found[e] = k[0]
            used.add(k[0])
    last = -1
    for e, cell in enumerate(exercise):
        if e in found:
            last = max(last, found[e])
            continue
        candidates = [k for k in range(last + 1, len(learner)) if k not in used]
        k = next((k for k in candidates if _same_content(cell, learner[k])), None)
        if k is not None:
            found[e] = k
            used.add(k)
            last = k
    return found


def _placement(
    exercise: nbformat.NotebookNode, matched: dict[int, int]
) -> tuple[dict[int, nbformat.NotebookNode], dict[int, list[nbformat.NotebookNode]]]:
    """Learner index -> the pristine check cell replacing it; learner index -> check cells re-inserted
    after it (-1: at the top). A deleted check goes after the nearest earlier exercise cell kept."""
    pristine = {id(c) for c in check_cells(exercise)}
    replace: dict[int, nbformat.NotebookNode] = {}
    inserts: dict[int, list[nbformat.NotebookNode]] = collections.defaultdict(list)
    anchor = -1
    for e, cell in enumerate(exercise.cells):
        if id(cell) in pristine:
            if e in matched:
                replace[matched[e]] = copy.deepcopy(cell)
                anchor = matched[e]
            else:
                inserts[anchor].append(copy.deepcopy(cell))
        elif e in matched:
            anchor = max(anchor, matched[e])
    return replace, inserts


def assemble(
    learner: nbformat.NotebookNode, exercise: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, list[int]]:
    """A copy of ``learner`` whose check cells are the exercise's, and where they stand.

    Check cells are matched by cell id, else by content (see :func:`_match`). A matched one
    gets its pristine source back; a missing one is re-inserted after the nearest earlier
    exercise cell the learner still has. Only these cells are scored.
    """
    nb = copy.deepcopy(learner)
    replace, inserts = _placement(exercise, _match(exercise.cells, nb.cells))
    out, checks = [], []
    for c in inserts.get(-1, []):
        checks.append(len(out))
        out.append(c)
    for k, cell in enumerate(nb.cells):
        if k in replace:
            checks.append(len(out))
            out.append(replace[k])
        else:
            out.append(cell)
        for c in inserts.get(k, []):
            checks.append(len(out))
            out.append(c)
    nb.cells = out
    return nb, checks


def parse_notebook(data: bytes) -> nbformat.NotebookNode:
    """Any nbformat 4 or 3 notebook's bytes, as version 4; :class:`NotebookError` saying why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:  # nbformat raises many kinds for a file that is not a notebook
        raise NotebookError(f"not a notebook that can be read ({type(exc).__name__})") from None


def read_bytes(path: Path) -> bytes:
    """A submission's bytes, read once; :class:`NotebookError` when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotebookError("no such file") from None
    except OSError as exc:
        raise NotebookError(f"cannot be read ({type(exc).__name__})") from None


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Any nbformat 4 or 3 notebook, as version 4; :class:`NotebookError` saying why not."""
    return parse_notebook(read_bytes(path))


def find_exercise(path: Path, exercises: Path, nb: nbformat.NotebookNode | None = None) -> Path:
    """The exercise a notebook answers: its ``coursekit.exercise`` metadata, else its file name."""
    nb = nb if nb is not None else read_notebook(path)
    name = nb.metadata.get("coursekit", {}).get("exercise") or path.stem
    exercise = exercises / f"{name}.ipynb"
    if not exercise.is_file():  # a copy made before exercises were renamed exercise_NN_...
        exercise = exercises / f"exercise_{name}.ipynb"
    if not exercise.is_file():
        raise NotebookError(f"no matching exercise {exercises / name}.ipynb")
    return exercise
