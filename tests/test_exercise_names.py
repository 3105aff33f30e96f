"""Exercises are named exercise_NN_topic.ipynb, so a lesson's tab and its exercise's tab differ;
a learner's notebook made under the old name (NN_topic) still finds its exercise."""

from __future__ import annotations

from pathlib import Path

import nbformat

from coursekit.course.grade import find_exercise

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"


def test_no_exercise_shares_a_lesson_s_name():
    lessons = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    exercises = sorted(p.name for p in EXERCISES.glob("*.ipynb"))
    assert exercises and all(name.startswith("exercise_") for name in exercises)
    assert not lessons & set(exercises)
    assert exercises == sorted(p.name for p in (ROOT / "solutions").glob("*.ipynb"))


def test_a_notebook_made_under_the_old_name_finds_its_exercise(tmp_path: Path):
    nb = nbformat.read(EXERCISES / "exercise_02_layer_norm.ipynb", as_version=4)
    nb.metadata["coursekit"] = {"exercise": "02_layer_norm"}  # as built before the rename
    old = tmp_path / "02_layer_norm.ipynb"
    nbformat.write(nb, old)
    assert find_exercise(old, EXERCISES) == EXERCISES / "exercise_02_layer_norm.ipynb"
    del nb.metadata["coursekit"]  # no metadata at all: the file name decides
    nbformat.write(nb, old)
    assert find_exercise(old, EXERCISES) == EXERCISES / "exercise_02_layer_norm.ipynb"
