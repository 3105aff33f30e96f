"""``coursekit export nbgrader``: the course as an nbgrader course, run through the real nbgrader.

``nbgrader generate_assignment`` releases every exercise; ``nbgrader autograde`` runs one of them
(exercise_02_layer_norm, the quickest; autograding all six would take minutes) for four students: a solved
submission (full marks), the untouched release (zero), a release whose locked test cells were
edited (zero, caught by nbgrader's checksums) and one with a cell added that patches the checks,
which nbgrader's autograde scores as the learner's kernel says and ``coursekit grade`` does not.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.course.cli import main
from coursekit.course.export import ExportError, graded_source, nbgrader_notebook
from coursekit.work.layout import BEGIN, CHECK_TAG

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
ASSIGNMENT = "exercise_02_layer_norm"
FORGE = "import coursekit.checks.norms\ncoursekit.checks.norms._norm_check = lambda *a, **k: None"


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """The real nbgrader, in the course folder (its ``alembic`` is found next to this Python)."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(bin_dir / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = tmp_path_factory.mktemp("nbgrader-course")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", "nbgrader", str(course)]) == 0
    nbgrader(course, "generate_assignment", "*", "--force")
    return course


def _nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata["nbgrader"]


def test_every_exercise_is_released_without_its_solutions(course: Path) -> None:
    assert sorted(p.name for p in (course / "release").iterdir()) == [p.stem for p in SOLUTIONS]
    for solution in SOLUTIONS:
        release = nbformat.read(course / "release" / solution.stem / solution.name, as_version=4)
        source = nbformat.read(solution, as_version=4)
        assert len(release.cells) == len(source.cells)
        for mine, theirs in zip(release.cells, source.cells, strict=True):
            if BEGIN in theirs.source:
                assert _nbgrader_meta(mine)["solution"] and "raise NotImplementedError()" in mine.source
                assert BEGIN not in mine.source
            else:
                assert _nbgrader_meta(mine)["locked"]


def test_cells_carry_nbgrader_metadata_and_checks_are_worth_a_point_each() -> None:
    for path in SOLUTIONS:
        solution = nbformat.read(path, as_version=4)
        nb = nbgrader_notebook(solution, path.name)
        ids = [_nbgrader_meta(c)["grade_id"] for c in nb.cells]
        assert len(set(ids)) == len(ids)
        for cell, original in zip(nb.cells, solution.cells, strict=True):
            meta = _nbgrader_meta(cell)
            is_check = CHECK_TAG in original.metadata.get("tags", [])
            assert meta["grade"] == is_check and meta["solution"] == (BEGIN in original.source)
            if is_check:
                assert meta["locked"] and meta["points"] == 1
                assert cell.source.count("assert check_") == 1 and cell.source.rstrip().endswith('says why"')


def test_a_check_cell_becomes_assertions_that_keep_its_other_lines() -> None:
    source = "# NBVAL_IGNORE_OUTPUT\nx = 1\ncheck_answer('a', f)\nif x:\n    check_mlp(M)\n"
    source += "check_rms_norm(\n    R\n)"
    converted, points = graded_source(source, "here")
    assert points == 2  # the call inside `if` is not at the top level: left as it is
    assert converted == "\n".join(
        [
            "# NBVAL_IGNORE_OUTPUT",
            "x = 1",
            "assert check_answer('a', f).passed, \"check_answer did not pass: the line above says why\"",
            "if x:",
            "    check_mlp(M)",
            'assert check_rms_norm(\n    R\n).passed, "check_rms_norm did not pass: the line above says why"',
        ]
    )
    with pytest.raises(ExportError, match="must call a check"):
        graded_source("print('hello')", "notebook X, cell 3")


def _submit(course: Path, student: str, nb: nbformat.NotebookNode) -> Path:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
    return folder / f"{ASSIGNMENT}.ipynb"


@pytest.fixture(scope="module")
def autograded(course: Path) -> dict[str, object]:
    release = nbformat.read(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answers = {_nbgrader_meta(c)["grade_id"]: c.source for c in source.cells if _nbgrader_meta(c)["solution"]}
    solved, tampered, forged = (copy.deepcopy(release) for _ in range(3))
    for cell in solved.cells:
        if _nbgrader_meta(cell)["solution"]:
            cell.source = answers[_nbgrader_meta(cell)["grade_id"]]
    for cell in tampered.cells:
        if _nbgrader_meta(cell)["grade"]:
            cell.source = "pass  # the test, edited away"
    at = 1 + [c.get("id") for c in forged.cells].index("imports")
    forged.cells.insert(at, nbformat.v4.new_code_cell(FORGE))
    paths = {
        student: _submit(course, student, nb)
        for student, nb in {"alice": solved, "bob": release, "eve": tampered, "mallory": forged}.items()
    }
    done = nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {
            s: (
                gradebook.find_submission(ASSIGNMENT, s).score,
                gradebook.find_submission(ASSIGNMENT, s).max_score,
            )
            for s in ("alice", "bob", "eve", "mallory")
        }
    return {"scores": scores, "log": done.stderr + done.stdout, "forged": paths["mallory"]}


def test_autograde_gives_a_solved_submission_full_marks_and_the_release_zero(autograded: dict) -> None:
    assert autograded["scores"]["alice"] == (4.0, 4.0)
    assert autograded["scores"]["bob"] == (0.0, 4.0)


def test_an_edited_locked_cell_is_caught_by_nbgraders_checksums(autograded: dict) -> None:
    assert autograded["scores"]["eve"] == (0.0, 4.0)
    assert "Attribute 'checksum' for cell ln-check has changed" in autograded["log"]


def test_a_forging_cell_fools_autograde_but_not_coursekit_grade(autograded: dict, tmp_path: Path) -> None:
    assert autograded["scores"]["mallory"][0] > 0  # the scores are computed in the learner's kernel
    report = tmp_path / "report.json"
    with contextlib.redirect_stdout(io.StringIO()):
        main(
            [
                "grade",
                str(autograded["forged"]),
                "--json",
                str(report),
                "--exercises",
                str(ROOT / "exercises"),
            ]
        )
    (notebook,) = json.loads(report.read_text(encoding="utf-8"))["notebooks"]
    assert notebook["passed"] == 0 and notebook["flagged"]
