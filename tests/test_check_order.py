"""A check cell run before the cell it checks shows a one-line hint; every other error is untouched."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from coursekit.checks import order


@pytest.fixture
def shell() -> InteractiveShell:
    shell = InteractiveShell()
    assert order.install(shell)
    shell.run_cell("from coursekit.checks import check_skip_stacks")
    return shell


def test_a_check_cell_run_too_early_reads_as_one_line(shell, capsys):
    result = shell.run_cell("check_skip_stacks(PlainStack, ResidualStack)")
    out = capsys.readouterr().out
    assert isinstance(result.error_in_exec, NameError)  # still an error: Run All stops, the grader sees it
    assert out.strip() == order.missing_name_hint("PlainStack")
    assert "not attempted" in out and "Traceback" not in out


def test_a_name_error_elsewhere_keeps_its_traceback(shell, capsys):
    shell.run_cell("def forward():\n    return undefined_thing\n")
    shell.run_cell("check_skip_stacks(forward(), 1)")  # raised inside the learner's function
    out = capsys.readouterr().out
    assert "NameError" in out and "not attempted" not in out
    shell.run_cell("x = some_name_never_defined + 1")  # not a check cell
    out = capsys.readouterr().out
    assert "NameError" in out and "not attempted" not in out


def test_other_errors_keep_their_traceback(shell, capsys):
    shell.run_cell("check_skip_stacks(1 / 0, 2)")
    out = capsys.readouterr().out
    assert "ZeroDivisionError" in out


def test_outside_ipython_nothing_is_installed():
    assert order.install() is False  # pytest is no IPython kernel


def test_the_grader_scores_a_check_cell_run_before_its_answer_not_attempted(tmp_path):
    """The answer cell deleted: the check cell raises NameError, which the grader reads as "not
    attempted" with the same advice the notebook shows, not as an error of the learner's code."""
    import nbformat

    from coursekit.course.grade import grade_notebook
    from coursekit.work.layout import course_root

    exercises = course_root() / "exercises"
    nb = nbformat.read(exercises / "exercise_02_layer_norm.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if c.get("id") != "ln-solution"]  # LayerNorm is never defined
    path = tmp_path / "exercise_02_layer_norm.ipynb"
    nbformat.write(nb, path)
    scores = {s.check: s for s in grade_notebook(path, exercises).scores}
    assert scores["layer_norm"].status == "not attempted"
    assert "LayerNorm" in scores["layer_norm"].message and "run the cell" in scores["layer_norm"].hint
    assert scores["rms_norm"].status == "not attempted"  # the stub, as before
