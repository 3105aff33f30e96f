"""The exercise builder: stubs at the right indent, stable ids, idempotent, strict about markers."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from coursekit.course.build import BuildError, build, make_exercise, split_solution
from coursekit.course.cli import main

ROOT = Path(__file__).resolve().parents[1]


def notebook(*cells: tuple[str, str, list[str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for index, (kind, source, tags) in enumerate(cells):
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        cell = make(source, metadata={"tags": tags} if tags else {})
        cell["id"] = f"cell-{index}"
        nb.cells.append(cell)
    return nb


SOLVED = """def f(x):
    y = x + 1
    ### BEGIN SOLUTION
    z = y * 2
    return z
    ### END SOLUTION
"""


def test_a_region_becomes_the_stub_at_the_markers_indent() -> None:
    kept, removed = split_solution(SOLVED, "here")
    assert kept == ["def f(x):", "    y = x + 1", "    # YOUR CODE HERE", "    raise NotImplementedError()"]
    assert removed == ["    z = y * 2", "    return z"]


def test_outputs_and_counts_are_cleared_ids_kept_and_check_cells_read_only() -> None:
    nb = notebook(("markdown", "# Title", []), ("code", SOLVED, []), ("code", "check_f(f)", ["check"]))
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi\n")]
    nb.cells[1].execution_count = 3
    exercise = make_exercise(nb, "01_x")
    assert [c.id for c in exercise.cells] == ["cell-0", "cell-1", "cell-2"]
    assert exercise.cells[1].outputs == [] and exercise.cells[1].execution_count is None
    assert exercise.cells[2].metadata == {"tags": ["check"], "editable": False, "deletable": False}
    assert exercise.metadata["coursekit"] == {"exercise": "01_x"}
    assert nb.cells[1].outputs  # the solution is left alone


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ([("code", "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", [])], "nested"),
        ([("code", "x = 1\n### BEGIN SOLUTION\nx = 2", [])], "never closed"),
        ([("code", "x = 1\n### END SOLUTION", [])], "without a"),
        ([("markdown", "text\n### BEGIN SOLUTION\nsecret\n### END SOLUTION", [])], "markdown"),
        ([("code", "### BEGIN SOLUTION\ncheck_f(f)\n### END SOLUTION", ["check"])], "check cell"),
    ],
    ids=["nested", "unterminated", "stray-end", "markdown", "check-cell"],
)
def test_malformed_markers_are_refused_naming_notebook_and_cell(cells: list, message: str) -> None:
    nb = notebook(("code", "import torch", []), *cells)
    with pytest.raises(BuildError, match=message) as error:
        make_exercise(nb, "07_bad")
    assert "07_bad, cell 1 (id cell-1)" in str(error.value)


def test_a_cell_without_an_id_is_refused() -> None:
    nb = notebook(("code", "x = 1", []))
    del nb.cells[0]["id"]
    with pytest.raises(BuildError, match="no id"):
        make_exercise(nb, "07_bad")


@pytest.fixture
def course(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "solutions", tmp_path / "solutions", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    return tmp_path


def test_building_twice_changes_nothing(course: Path) -> None:
    assert build(course / "solutions", course / "exercises") == []
    first = {p.name: p.read_bytes() for p in (course / "exercises").glob("*.ipynb")}
    stamps = {p.name: p.stat().st_mtime_ns for p in (course / "exercises").glob("*.ipynb")}
    assert build(course / "solutions", course / "exercises") == []
    assert {p.name: p.read_bytes() for p in (course / "exercises").glob("*.ipynb")} == first
    assert {p.name: p.stat().st_mtime_ns for p in (course / "exercises").glob("*.ipynb")} == stamps


def test_the_committed_exercises_are_what_the_builder_makes() -> None:
    assert build(ROOT / "solutions", ROOT / "exercises", check=True) == []


def test_check_reports_out_of_date_leaks_and_strays(course: Path) -> None:
    solutions, exercises = course / "solutions", course / "exercises"
    args = ["build", "--check", "--solutions", str(solutions), "--exercises", str(exercises)]
    assert main(args) == 1  # nothing built yet
    assert main(["build", "--solutions", str(solutions), "--exercises", str(exercises)]) == 0
    assert main(args) == 0
    target = exercises / "exercise_02_layer_norm.ipynb"
    edited = nbformat.read(target, as_version=4)
    cell = next(c for c in edited.cells if c.id == "ln-solution")
    cell.source = cell.source.replace(
        "# YOUR CODE HERE", "var = x.var(dim=-1, unbiased=False, keepdim=True)", 1
    )
    nbformat.write(edited, target)
    text = target.read_text()
    problems = build(solutions, exercises, check=True)
    assert any("out of date" in p for p in problems)
    assert any(
        "leaks a solution line: var = x.var(dim=-1, unbiased=False, keepdim=True)" in p for p in problems
    )
    (exercises / "99_orphan.ipynb").write_text(text)
    assert any("99_orphan.ipynb has no solution" in p for p in build(solutions, exercises, check=True))
    assert main(args) == 1


def test_a_malformed_solution_makes_the_command_fail_with_one_line(course: Path, capsys) -> None:
    nb = notebook(("code", "### BEGIN SOLUTION\nx = 1", []))
    nbformat.write(nb, course / "solutions" / "09_bad.ipynb")
    assert (
        main(["build", "--solutions", str(course / "solutions"), "--exercises", str(course / "exercises")])
        == 2
    )
    out = capsys.readouterr().out
    assert out.startswith("coursekit build: 09_bad, cell 0 (id cell-0)") and out.count("\n") == 1
