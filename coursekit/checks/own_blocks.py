"""The learner's own blocks, taken from their work folder for the capstone (lesson 8).

For each of ``LayerNorm`` (exercise 2), ``MLP`` (exercise 3) and ``TransformerBlock`` (exercise 4)
this runs, in a fresh namespace, the code cells of the learner's copy in ``my-work/`` up to the
cell that defines the class (check cells skipped), then the exercise's own check on the class,
silently and unrecorded. The learner's class is used only when that check passes; otherwise the
reference class, with the reason. Nothing is written, nothing is printed.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

from ..experiments.gpt_model import REFERENCE_PARTS, BlockParts
from ..work.layout import OLD_EXERCISE_PREFIX, is_check_cell, work_folder
from .blocks import check_transformer_block
from .mlp import check_mlp
from .norms import check_layer_norm

# class name -> (exercise number, notebook, its check)
EXERCISES: dict[str, tuple[int, str, Callable]] = {
    "LayerNorm": (2, "exercise_02_layer_norm.ipynb", check_layer_norm),
    "MLP": (3, "exercise_03_mlp.ipynb", check_mlp),
    "TransformerBlock": (4, "exercise_04_transformer_block.ipynb", check_transformer_block),
}


def _class_from(path: Path, name: str) -> type:
    """Run ``path``'s code cells up to the one defining ``class name(`` and return the class."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    defines = re.compile(rf"^class {name}\(", re.MULTILINE)
    namespace: dict[str, object] = {"__name__": f"my_work_{name.lower()}"}
    quiet = io.StringIO()
    for cell in cells:
        if cell.get("cell_type") != "code" or is_check_cell(cell):
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if source.lstrip().startswith(("%", "!")):
            continue  # IPython magics are not Python
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            exec(compile(source, f"{path.name}", "exec"), namespace)  # noqa: S102 - the learner's own code
        if defines.search(source):
            return namespace[name]  # type: ignore[return-value]
    raise LookupError(f"no cell defines class {name}")


def _yours_or_reference(folder: Path, name: str) -> tuple[type | None, str]:
    """The learner's class and where it came from, or ``None`` and why the reference is used."""
    number, notebook, check = EXERCISES[name]
    path = folder / notebook
    if not path.is_file():  # a copy made before the exercises were renamed exercise_NN_...
        path = folder / notebook.removeprefix(OLD_EXERCISE_PREFIX)
    if not path.is_file():
        return None, f"reference (no {folder.name}/{notebook}: exercise {number} not started)"
    try:
        cls = _class_from(path, name)
    except Exception as exc:  # noqa: BLE001 - any failure of the learner's cells means: use the reference
        return None, f"reference (exercise {number}'s cells did not run: {type(exc).__name__})"
    with contextlib.redirect_stdout(io.StringIO()):
        result = check(cls, record=False)
    if not result.passed:
        return None, f"reference (your {name} from exercise {number}: check {result.status})"
    return cls, f"yours, from {folder.name}/{notebook} (its check passes)"


def load_your_blocks(folder: Path | str | None = None) -> BlockParts:
    """The blocks for the capstone: yours where exercises 2-4 pass their checks, else the
    reference; ``describe()`` says which. ``folder`` defaults to the work folder ``my-work/``."""
    folder = work_folder() if folder is None else Path(folder)
    chosen, sources = {}, []
    for name in EXERCISES:
        cls, source = _yours_or_reference(folder, name)
        chosen[name] = cls or getattr(REFERENCE_PARTS, name)
        sources.append(source)
    return BlockParts(chosen["LayerNorm"], chosen["MLP"], chosen["TransformerBlock"], tuple(sources))
