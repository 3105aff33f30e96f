"""The generated exercises run top to bottom without an error, every check "not attempted"."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from coursekit.course.jupyter_kernel import current_env_kernel_manager
from coursekit.work.layout import CHECK_TAG, NOT_ATTEMPTED, result_symbol

EXERCISES = sorted((Path(__file__).resolve().parents[1] / "exercises").glob("*.ipynb"))


@pytest.mark.parametrize("path", EXERCISES, ids=[p.stem for p in EXERCISES])
def test_an_untouched_exercise_runs_and_reports_not_attempted(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, km=current_env_kernel_manager(), timeout=120, resources={"metadata": {"path": str(path.parent)}}
    ).execute(cleanup_kc=True)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    checks = [c for c in nb.cells if CHECK_TAG in c.metadata.get("tags", [])]
    assert checks
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert text.startswith(result_symbol(NOT_ATTEMPTED) + " ") and NOT_ATTEMPTED in text, text
