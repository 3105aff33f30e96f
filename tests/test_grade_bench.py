"""benchmarks/grade_class.py generates the class it says (each kind scores what it should) and
prints its table; its timings are not tested (the benchmark shows them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "grade_class.py"


def _benchmark():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("benchmarks.grade_class", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_a_class_of_each_kind_scores_what_its_kind_says(capsys) -> None:
    assert _benchmark().main(["--notebooks", "5", "--jobs", "2", "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "(1 solved, 1 wrong, 1 broken, 1 untouched, 1 forging)" in out
    kinds = out.split("scores by kind: ", 1)[1].splitlines()[0]
    assert kinds == "solved 4/4, wrong 3/4, broken 3/4, untouched 0/4, forging 0/4 flagged"
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("2 "))
    assert float(row[2]) == pytest.approx(60 * 5 / float(row[1]), rel=0.01)  # notebooks per minute


def test_bad_arguments_are_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        _benchmark().main(["--notebooks", "0"])
    assert "at least 1" in capsys.readouterr().err
