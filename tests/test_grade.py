"""``coursekit grade`` on solved, empty, broken, hanging, crashing, tampered and noisy notebooks.

The notebooks are made from the real solution and exercise notebooks at test time, so they
always carry the current cell ids; all of them are graded in one command (one kernel each).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import nbformat
import pytest

from coursekit.course import grade
from coursekit.checks.norms import HINTS as NORM_HINTS
from coursekit.course.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
CHECKS = ["layer_norm", "rms_norm", "ln_variance", "ln_unbiased_factor"]
TIMEOUT = 10  # seconds per cell; importing torch in the first cell must fit


def _read(folder: str) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / folder / "02_layer_norm.ipynb", as_version=4)
    nb.metadata["coursekit"] = {"exercise": "02_layer_norm"}
    return nb


def _cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.get("id") == cell_id)


def _insert_after(nb: nbformat.NotebookNode, cell_id: str, source: str) -> None:
    index = nb.cells.index(_cell(nb, cell_id))
    cell = nbformat.v4.new_code_cell(source)
    cell["id"] = f"learner-{len(nb.cells)}"
    nb.cells.insert(index + 1, cell)


def _replace_forward(nb: nbformat.NotebookNode, body: str) -> None:
    cell = _cell(nb, "ln-solution")
    head = cell.source.split("    def forward")[0]
    cell.source = head + "    def forward(self, x):\n" + body


def variants() -> dict[str, nbformat.NotebookNode]:
    solved = _read("solutions")
    broken, hanging, crashing, tampered, noisy = (copy.deepcopy(solved) for _ in range(5))

    _replace_forward(broken, "        return x / self.scale\n")

    _replace_forward(hanging, "        while True:\n            pass\n")
    _insert_after(hanging, "rms-solution", "while True:\n    pass")

    _insert_after(crashing, "ln-check", "import os\nos._exit(1)")

    _replace_forward(
        tampered,
        "        return (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True) + self.eps).sqrt()"
        " * self.weight + self.bias\n",
    )
    _cell(tampered, "ln-check").source = 'print("✅ layer_norm: passed")'
    tampered.cells.remove(_cell(tampered, "rms-check"))
    _cell(tampered, "q1-solution").source = 'def answer_variance():\n    return "a"'
    _cell(tampered, "q1-check").source = 'check_answer("ln_variance", "b")'
    _cell(tampered, "q1-check").metadata = {}  # tag removed too: found by id

    _insert_after(
        noisy,
        "imports",
        'import sys, warnings\nwarnings.warn("noise")\nprint("noise", file=sys.stderr)\n'
        "print = None  # shadows the builtin for the rest of the notebook\n"
        "1 / 0",
    )
    _insert_after(
        noisy, "q2-check", "LayerNorm = None\ncheck_layer_norm(LayerNorm)\nprint('✅ rms_norm: passed')"
    )

    return {
        "solved": solved,
        "empty": _read("exercises"),
        "broken": broken,
        "hanging": hanging,
        "crashing": crashing,
        "tampered": tampered,
        "noisy": noisy,
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("learners")
    for name, nb in variants().items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    report = folder / "report.grade.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(
            [
                "grade",
                str(folder),
                "--json",
                str(report),
                "--timeout",
                str(TIMEOUT),
                "--exercises",
                str(EXERCISES),
            ]
        )
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p != report}
    scores = {
        Path(r["path"]).stem: {s["check"]: s for s in r["scores"]} for r in json.loads(report.read_text())
    }
    return {"status": status, "table": out.getvalue(), "scores": scores, "unchanged": before == after}


def statuses(graded: dict, name: str) -> list[str]:
    return [graded["scores"][name][c]["status"] for c in CHECKS]


def test_grading_ran_and_left_every_learner_file_untouched(graded: dict) -> None:
    assert graded["status"] == 0
    assert graded["unchanged"]
    assert sorted(graded["scores"]) == [
        "broken",
        "crashing",
        "empty",
        "hanging",
        "noisy",
        "solved",
        "tampered",
    ]


def test_a_solved_notebook_scores_every_check(graded: dict) -> None:
    assert statuses(graded, "solved") == ["passed"] * 4


def test_an_empty_notebook_is_not_attempted(graded: dict) -> None:
    assert statuses(graded, "empty") == ["not attempted"] * 4


def test_an_exception_fails_that_check_only_with_the_learners_line(graded: dict) -> None:
    assert statuses(graded, "broken") == ["error", "passed", "passed", "passed"]
    hint = graded["scores"]["broken"]["layer_norm"]["hint"]
    assert "AttributeError" in hint and "return x / self.scale" in hint


def test_an_endless_loop_times_out_and_the_rest_goes_on(graded: dict) -> None:
    # forward loops inside the layer_norm check; a later top-level loop is stopped too
    assert statuses(graded, "hanging") == ["timeout", "passed", "passed", "passed"]
    assert "endless loop" in graded["scores"]["hanging"]["layer_norm"]["hint"]


def test_a_dead_kernel_fails_every_check_after_it(graded: dict) -> None:
    assert statuses(graded, "crashing") == ["passed", "kernel died", "kernel died", "kernel died"]


def test_edited_and_deleted_check_cells_are_put_back(graded: dict) -> None:
    assert statuses(graded, "tampered") == ["failed", "passed", "failed", "passed"]
    assert NORM_HINTS["unbiased_variance"] in graded["scores"]["tampered"]["layer_norm"]["hint"]


def test_warnings_stderr_errors_elsewhere_and_names_reused_later_change_nothing(graded: dict) -> None:
    assert statuses(graded, "noisy") == ["passed"] * 4


def test_the_table_shows_each_check_and_the_totals(graded: dict) -> None:
    table = graded["table"]
    assert "✅ passed" in table and "❌ not attempted" in table and "❌ timeout" in table
    assert table.rstrip().endswith("total: 17/28 checks passed in 7 notebook(s)")


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda d: d / "missing.ipynb", "no such file"),
        (lambda d: (d / "junk.ipynb").write_text("not json") and d / "junk.ipynb", "not a notebook"),
        (
            lambda d: nbformat.write(nbformat.v4.new_notebook(), d / "other.ipynb") or d / "other.ipynb",
            "no matching exercise",
        ),
    ],
    ids=["missing", "not-a-notebook", "no-exercise"],
)
def test_grading_that_cannot_run_exits_non_zero_with_one_line(
    tmp_path: Path, capsys, setup, reason: str
) -> None:
    path = setup(tmp_path)
    assert main(["grade", str(path), "--exercises", str(EXERCISES)]) == 2
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1


def test_no_kernel_exits_non_zero_with_one_line(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_kernel():
        raise RuntimeError("ipykernel is not installed")

    monkeypatch.setattr(grade, "current_env_kernel_manager", no_kernel)
    assert main(["grade", str(EXERCISES / "02_layer_norm.ipynb"), "--exercises", str(EXERCISES)]) == 2
    assert "could not start a Python kernel" in capsys.readouterr().err


def test_pristine_check_cells_are_matched_by_id_and_reinserted_in_place() -> None:
    exercise = nbformat.read(EXERCISES / "02_layer_norm.ipynb", as_version=4)
    learner = copy.deepcopy(exercise)
    learner.cells.remove(_cell(learner, "rms-check"))
    _cell(learner, "ln-check").source = "pass"
    copied = copy.deepcopy(_cell(exercise, "q1-check"))
    copied["id"] = "learner-copy"
    learner.cells.append(copied)  # a copy of a check cell is not a second chance to score
    assembled, checks = grade.assemble(learner, exercise)
    assert [c.id for c in assembled.cells] == [c.id for c in exercise.cells] + ["learner-copy"]
    assert _cell(assembled, "ln-check").source == "check_layer_norm(LayerNorm)"
    assert [assembled.cells[k].id for k in checks] == ["ln-check", "rms-check", "q1-check", "q2-check"]
    assert grade.check_names_in('check_answer("ln_variance", f)\ncheck_rms_norm(R)') == [
        "ln_variance",
        "rms_norm",
    ]
