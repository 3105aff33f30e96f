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
