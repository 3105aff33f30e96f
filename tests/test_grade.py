"""``coursekit grade`` as a learner who wants a pass without the work, and as an instructor with
an untidy class folder.

The notebooks are made from the real solution and exercise notebooks at test time, so they
always carry the current cell ids; a whole class folder is graded in one command (a kernel
per notebook), and the tests read its JSON, CSV, table and summary.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
from pathlib import Path

import nbformat
import pytest

from coursekit.checks.norms import HINTS as NORM_HINTS
from coursekit.course import grade
from coursekit.course.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
CHECKS = ["layer_norm", "rms_norm", "ln_variance", "ln_unbiased_factor"]
TIMEOUT = 10  # seconds per cell; importing torch in the first cell must fit
STUBBED = ["not attempted"] * 4


def _read(folder: str) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / folder / "exercise_02_layer_norm.ipynb", as_version=4)
    nb.metadata["coursekit"] = {"exercise": "exercise_02_layer_norm"}
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


# The forging attempts of issue 10, each one cell added to the untouched exercise (stubs in place).
FORGERIES = {
    "forged_redefine": "import torch.nn as _nn\nfrom coursekit.checks import check_layer_norm as _real\n"
    "def check_layer_norm(cls):\n    return _real(_nn.LayerNorm)\n"
    "def check_rms_norm(cls):\n    return _real(_nn.LayerNorm)",
    "forged_private": "import coursekit.checks.norms\ncoursekit.checks.norms._norm_check = lambda *a, **k: "
    "None",
    "forged_drain": "import json\nimport coursekit.checks.core as core\n"
    "def drain(nonce=None):\n"
    "    names = ['layer_norm', 'rms_norm', 'ln_variance', 'ln_unbiased_factor']\n"
    "    return f'{nonce} ' + json.dumps([{'name': n, 'status': 'passed', 'message': 'passed', "
    "'hint': '', 'detail': '', 'passed': True} for n in names])\n"
    "core.drain = drain",
    "forged_more": "import builtins, hashlib, json, os, sys\nimport coursekit.checks.core as core\n"
    "core.CheckResult.passed = property(lambda self: True)\n"
    "core.CheckResult.status = 'passed'\n"
    "class _H:\n    def __init__(self, *a): pass\n"
    "    def hexdigest(self): return 'a23b52e395d66ef64a673c95c476c0947b5fe3ae60637ac728cf57e806de605a'\n"
    "hashlib.sha256 = _H\n"
    "sys.modules['coursekit.checks'] = type(sys)('fake')\n"
    "open(os.environ['COURSEKIT_PROGRESS'], 'w').write(json.dumps({'checks': {}}))\n"
    "print('✅ layer_norm: passed')",
}


def variants() -> dict[str, nbformat.NotebookNode]:
    solved = _read("solutions")
    broken, hanging, crashing, tampered, noisy, silenced, stopped = (copy.deepcopy(solved) for _ in range(7))

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

    _insert_after(
        silenced,
        "imports",
        'import builtins, os, sys\nsys.stdout = open(os.devnull, "w")\nbuiltins.print = lambda *a, **k: None',
    )

    # a cell stopped by the time limit before the class is defined: the check then cannot find it
    _cell(stopped, "ln-solution").source = "while True:\n    pass\n" + _cell(stopped, "ln-solution").source

    pasted = copy.deepcopy(solved)  # every cell pasted into a new notebook: new ids, no tags
    for k, cell in enumerate(pasted.cells):
        cell["id"] = f"pasted-{k}"
        cell.metadata = {}

    subclass = _read("exercises")
    _cell(subclass, "ln-solution").source = "class LayerNorm(nn.LayerNorm):\n    pass"

    notebooks = {
        "solved": solved,
        "empty": _read("exercises"),
        "broken": broken,
        "hanging": hanging,
        "crashing": crashing,
        "tampered": tampered,
        "noisy": noisy,
        "silenced": silenced,
        "stopped": stopped,
        "pasted": pasted,
        "subclass": subclass,
    }
    for name, source in FORGERIES.items():
        notebooks[name] = _read("exercises")
        _insert_after(notebooks[name], "imports", source)
    # the "assert_close" forgery: a LayerNorm that does not normalise, and assert_close a no-op
    unforged = _read("exercises")
    _cell(unforged, "ln-solution").source = (
        "class LayerNorm(nn.Module):\n"
        "    def __init__(self, normalized_shape, eps=1e-5):\n"
        "        super().__init__()\n        self.eps = eps\n"
        "        self.weight = nn.Parameter(torch.ones(normalized_shape))\n"
        "        self.bias = nn.Parameter(torch.zeros(normalized_shape))\n"
        "    def forward(self, x):\n        return x * self.weight + self.bias"
    )
    forged_close = copy.deepcopy(unforged)
    _insert_after(
        forged_close, "imports", "import torch.testing\ntorch.testing.assert_close = lambda *a, **k: None"
    )
    notebooks["unnormalised"] = unforged
    notebooks["forged_assert_close"] = forged_close
    return notebooks


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("learners")
    for name, nb in variants().items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    nbformat.write(_read("solutions"), folder / "version3.ipynb", version=3)
    (folder / "unreadable.ipynb").write_text("{ this is not a notebook", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    report, table = folder / "report.grade.json", folder / "report.grade.csv"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(
            [
                "grade",
                str(folder),
                "--json",
                str(report),
                "--csv",
                str(table),
                "--timeout",
                str(TIMEOUT),
                "--exercises",
                str(EXERCISES),
            ]
        )
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p not in (report, table)}
    document = json.loads(report.read_text())
    notebooks = {Path(r["path"]).stem: r for r in document["notebooks"]}
    scores = {name: {s["check"]: s for s in r["scores"]} for name, r in notebooks.items()}
    return {
        "status": status,
        "out": out.getvalue(),
        "scores": scores,
        "notebooks": notebooks,
        "summary": document["summary"],
        "csv": list(csv.DictReader(table.open(encoding="utf-8"))),
        "unchanged": before == after,
    }


def statuses(graded: dict, name: str) -> list[str]:
    return [graded["scores"][name][c]["status"] for c in CHECKS]


def flags(graded: dict, name: str) -> str:
    return " | ".join(graded["notebooks"][name]["flags"])


def test_one_unreadable_notebook_is_reported_and_the_rest_are_graded(graded: dict) -> None:
    assert graded["status"] == 1  # some could not be graded
    assert graded["unchanged"]
    unreadable = graded["notebooks"]["unreadable"]
    assert not unreadable["graded"] and "not a notebook" in unreadable["problem"]
    assert sum(r["graded"] for r in graded["notebooks"].values()) == len(graded["notebooks"]) - 1


def test_a_solved_notebook_scores_every_check_and_is_not_flagged(graded: dict) -> None:
    assert statuses(graded, "solved") == ["passed"] * 4
    assert graded["notebooks"]["solved"]["flags"] == []


def test_an_empty_notebook_is_not_attempted(graded: dict) -> None:
    assert statuses(graded, "empty") == STUBBED
    assert graded["notebooks"]["empty"]["flags"] == []


@pytest.mark.parametrize("name", ["forged_redefine", "forged_private", "forged_drain", "forged_more"])
def test_a_forging_cell_scores_what_the_stub_scores_and_is_flagged(graded: dict, name: str) -> None:
    assert statuses(graded, name) == STUBBED
    assert graded["notebooks"][name]["flagged"]


def test_each_forgery_is_named_in_the_flags(graded: dict) -> None:
    assert "redefines check_layer_norm" in flags(graded, "forged_redefine")
    assert "coursekit.checks.norms._norm_check" in flags(graded, "forged_private")
    assert "coursekit.checks.core.drain" in flags(graded, "forged_drain")
    more = flags(graded, "forged_more")
    assert "CheckResult" in more and "hashlib.sha256" in more and "sys.modules" in more
    assert "progress file" in more
    assert "torch.testing" in flags(graded, "forged_assert_close")


def test_a_no_op_assert_close_does_not_make_a_wrong_layer_norm_pass(graded: dict) -> None:
    assert statuses(graded, "forged_assert_close") == statuses(graded, "unnormalised")
    assert statuses(graded, "unnormalised")[0] == "failed"
    assert graded["notebooks"]["unnormalised"]["flags"] == []


def test_subclassing_the_torch_module_fails_a_from_scratch_exercise(graded: dict) -> None:
    score = graded["scores"]["subclass"]["layer_norm"]
    assert score["status"] == "failed" and "from scratch" in score["hint"]


@pytest.mark.parametrize("name", ["version3", "pasted", "silenced", "noisy"])
def test_no_false_failures(graded: dict, name: str) -> None:
    assert statuses(graded, name) == ["passed"] * 4


def test_an_exception_fails_that_check_only_with_the_learners_line(graded: dict) -> None:
    assert statuses(graded, "broken") == ["error", "passed", "passed", "passed"]
    score = graded["scores"]["broken"]["layer_norm"]
    assert "AttributeError" in score["message"] and "return x / self.scale" in score["detail"]


def test_an_endless_loop_times_out_and_the_rest_goes_on(graded: dict) -> None:
    # forward loops inside the layer_norm check; a later top-level loop is stopped too
    assert statuses(graded, "hanging") == ["timeout", "passed", "passed", "passed"]
    assert graded["scores"]["hanging"]["layer_norm"]["message"].startswith("timeout")


def test_a_check_after_a_stopped_cell_says_timeout_first(graded: dict) -> None:
    assert statuses(graded, "stopped") == ["timeout", "passed", "passed", "passed"]
    message = graded["scores"]["stopped"]["layer_norm"]["message"]
    assert message.startswith("timeout: cell") and "while True" in message and "NameError" in message


def test_a_dead_kernel_fails_every_check_after_it(graded: dict) -> None:
    assert statuses(graded, "crashing") == ["passed", "kernel died", "kernel died", "kernel died"]


def test_edited_and_deleted_check_cells_are_put_back(graded: dict) -> None:
    assert statuses(graded, "tampered") == ["failed", "passed", "failed", "passed"]
    assert graded["scores"]["tampered"]["layer_norm"]["hint"] == NORM_HINTS["unbiased_variance"]


def test_a_line_per_notebook_as_it_is_graded_then_the_table_and_the_summary(graded: dict) -> None:
    out = graded["out"]
    n = len(graded["notebooks"])
    assert out.startswith(f"[1/{n}] ")
    assert f"[{n}/{n}] " in out
    table = out[out.index("notebook ") :]
    assert "solved.ipynb" in table and str(ROOT) not in table  # short names, not whole paths
    broken = table.splitlines()[[ln.split(" ")[0] for ln in table.splitlines()].index("broken.ipynb") :]
    assert "layer_norm: error" in broken[0] and broken[1].lstrip().startswith("your code raised")
    assert "could not be graded" in table and "⚠ flagged" in table
    assert "class summary" in out and "hints hit most often" in out


def test_the_class_summary_counts_per_check_and_the_hints_hit_most(graded: dict) -> None:
    summary = graded["summary"]
    graded_notebooks = [r for r in graded["notebooks"].values() if r["graded"]]
    layer_norm = summary["checks"]["layer_norm"]
    assert layer_norm["of"] == len(graded_notebooks)
    assert layer_norm["passed"] == sum(
        graded["scores"][Path(r["path"]).stem]["layer_norm"]["passed"] for r in graded_notebooks
    )
    assert summary["hints"] and all(h["count"] >= 1 for h in summary["hints"])
    assert summary["flagged"] == sum(bool(r["flags"]) for r in graded_notebooks)


def test_the_csv_has_a_row_per_notebook_and_check(graded: dict) -> None:
    rows = graded["csv"]
    assert list(rows[0]) == grade.CSV_FIELDS
    solved = [r for r in rows if Path(r["notebook"]).stem == "solved"]
    assert [r["check"] for r in solved] == CHECKS and all(r["passed"] == "True" for r in solved)
    assert any(r["status"] == "could not be graded" for r in rows)


@pytest.mark.parametrize(
    ("setup", "reason", "status"),
    [
        (lambda d: d / "missing.ipynb", "no such file", 2),
        (lambda d: (d / "junk.ipynb").write_text("not json") and d / "junk.ipynb", "not a notebook", 1),
        (
            lambda d: nbformat.write(nbformat.v4.new_notebook(), d / "other.ipynb") or d / "other.ipynb",
            "no matching exercise",
            1,
        ),
    ],
    ids=["missing", "not-a-notebook", "no-exercise"],
)
def test_grading_that_cannot_run_exits_non_zero_and_says_why(
    tmp_path: Path, capsys, setup, reason: str, status: int
) -> None:
    path = setup(tmp_path)
    assert main(["grade", str(path), "--exercises", str(EXERCISES)]) == status
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1


def test_no_kernel_exits_non_zero_with_one_line(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_kernel():
        raise RuntimeError("ipykernel is not installed")

    monkeypatch.setattr(grade.kernel, "current_env_kernel_manager", no_kernel)
    notebook = EXERCISES / "exercise_02_layer_norm.ipynb"
    assert main(["grade", str(notebook), "--exercises", str(EXERCISES)]) == 2
    assert "could not start a Python kernel" in capsys.readouterr().err


def test_pristine_check_cells_are_matched_by_id_and_reinserted_in_place() -> None:
    exercise = nbformat.read(EXERCISES / "exercise_02_layer_norm.ipynb", as_version=4)
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


def test_check_cells_without_ids_or_tags_are_found_by_content() -> None:
    exercise = nbformat.read(EXERCISES / "exercise_02_layer_norm.ipynb", as_version=4)
    learner = copy.deepcopy(exercise)
    for k, cell in enumerate(learner.cells):
        cell["id"], cell.metadata = f"new-{k}", {}
    _cell(learner, "new-4").source = "check_layer_norm( LayerNorm )  # run again"
    assembled, checks = grade.assemble(learner, exercise)
    assert [assembled.cells[k].source for k in checks] == [
        c.source for c in exercise.cells if "check" in c.metadata.get("tags", [])
    ]
    assert len(assembled.cells) == len(exercise.cells)


def test_source_flags_name_what_to_look_at_and_leave_honest_code_alone() -> None:
    exercise = _read("exercises")
    _insert_after(
        exercise,
        "imports",
        "# the gradient drains away in a deep plain stack\ntorch.manual_seed(0)\n"
        "torch.backends.cudnn.benchmark = False\nchecks = [check_layer_norm]",
    )
    assembled, checks = grade.assemble(exercise, _read("exercises"))
    assert grade.source_flags(assembled, checks) == []
    _insert_after(exercise, "imports", "import gc\nobjs = gc.get_objects()")
    assembled, checks = grade.assemble(exercise, _read("exercises"))
    assert "internals" in " ".join(grade.source_flags(assembled, checks))


def test_a_cell_that_swallows_the_interrupt_stops_the_notebook_quickly_with_timeout(tmp_path: Path) -> None:
    stubborn = _read("solutions")
    _insert_after(
        stubborn,
        "imports",
        "import time\nwhile True:\n    try:\n        time.sleep(100)\n"
        "    except KeyboardInterrupt:\n        pass",
    )
    nbformat.write(stubborn, tmp_path / "stubborn.ipynb")
    report = grade.grade_notebook(tmp_path / "stubborn.ipynb", EXERCISES, timeout=3)
    assert [s.status for s in report.scores] == ["timeout"] * 4
    assert "stuck" in report.scores[0].message
    assert report.seconds < 60  # not a time limit per remaining cell
