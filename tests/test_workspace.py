"""The learner's own copies: `make lab` copies exercises/ into my-work/ (ignored by git) and
never overwrites a learner's file, so pulling a new version of the course never conflicts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from coursekit.course import workspace
from coursekit.course.cli import main
from coursekit.work import layout

ROOT = Path(__file__).resolve().parents[1]
GIT = shutil.which("git")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def fake_course(root: Path) -> Path:
    (root / "exercises").mkdir(parents=True)
    for name in ("01_a.ipynb", "02_b.ipynb"):
        (root / "exercises" / name).write_text(f'{{"template": "{name} v1"}}\n')
    shutil.copy(ROOT / ".gitignore", root / ".gitignore")
    return root


def test_the_first_copy_takes_every_exercise_and_later_ones_only_new_ones(tmp_path: Path) -> None:
    root = fake_course(tmp_path / "course")
    assert [p.name for p in workspace.copy_exercises(root)] == ["01_a.ipynb", "02_b.ipynb"]
    mine = root / "my-work" / "02_b.ipynb"
    mine.write_text("my answers")
    (root / "exercises" / "02_b.ipynb").write_text('{"template": "v2, improved"}\n')
    (root / "exercises" / "03_c.ipynb").write_text('{"template": "new"}\n')
    assert [p.name for p in workspace.copy_exercises(root)] == ["03_c.ipynb"]
    assert mine.read_text() == "my answers"
    assert workspace.copy_exercises(root) == []  # running it again changes nothing
    assert sorted(p.name for p in (root / "my-work").iterdir()) == ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]


def test_a_copy_never_replaces_a_file_even_a_deleted_then_recreated_one(tmp_path: Path) -> None:
    root = fake_course(tmp_path / "course")
    (root / "my-work").mkdir()
    (root / "my-work" / "01_a.ipynb").write_text("started before make lab")
    workspace.copy_exercises(root)
    assert (root / "my-work" / "01_a.ipynb").read_text() == "started before make lab"
    assert not list((root / "my-work").glob(".*copying"))  # no scratch file left


def test_a_copy_under_an_exercises_old_name_takes_the_new_name(tmp_path: Path) -> None:
    """Exercises were renamed exercise_NN_...: the learner's work keeps going under the new name."""
    root = fake_course(tmp_path / "course")
    (root / "exercises" / "01_a.ipynb").rename(root / "exercises" / "exercise_01_a.ipynb")
    (root / "my-work").mkdir()
    (root / "my-work" / "01_a.ipynb").write_text("my answers")
    assert [p.name for p in workspace.copy_exercises(root)] == ["02_b.ipynb"]
    assert (root / "my-work" / "exercise_01_a.ipynb").read_text() == "my answers"
    assert not (root / "my-work" / "01_a.ipynb").exists()
    (root / "my-work" / "01_a.ipynb").write_text("an old copy made again")  # both names: both kept
    assert workspace.copy_exercises(root) == []
    assert (root / "my-work" / "exercise_01_a.ipynb").read_text() == "my answers"
    assert (root / "my-work" / "01_a.ipynb").read_text() == "an old copy made again"


@pytest.mark.skipif(GIT is None, reason="needs git")
def test_pulling_an_updated_exercise_never_touches_the_learners_copy(tmp_path: Path) -> None:
    upstream = fake_course(tmp_path / "upstream")
    git(upstream, "init", "-q", "-b", "main")
    git(upstream, "add", ".")
    git(upstream, "commit", "-q", "-m", "course v1")
    learner = tmp_path / "learner"
    git(tmp_path, "clone", "-q", str(upstream), str(learner))

    workspace.copy_exercises(learner)  # what `make lab` does on first run
    mine = learner / "my-work" / "01_a.ipynb"
    mine.write_text('{"my": "answers"}\n')  # the learner works and saves
    assert git(learner, "status", "--porcelain") == ""  # nothing tracked changed

    (upstream / "exercises" / "01_a.ipynb").write_text('{"template": "01 v2, a clearer hint"}\n')
    (upstream / "exercises" / "04_new.ipynb").write_text('{"template": "a new exercise"}\n')
    git(upstream, "add", ".")
    git(upstream, "commit", "-q", "-m", "course v2")

    git(learner, "pull", "-q", "--ff-only")  # no conflict: the learner's work is not tracked
    assert (learner / "exercises" / "01_a.ipynb").read_text() == '{"template": "01 v2, a clearer hint"}\n'
    assert [p.name for p in workspace.copy_exercises(learner)] == ["04_new.ipynb"]  # the next `make lab`
    assert mine.read_text() == '{"my": "answers"}\n'
    assert git(learner, "status", "--porcelain") == ""


def test_the_command_reports_what_it_copied(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = fake_course(tmp_path / "course")
    assert main(["workspace", "--course", str(root)]) == 0
    assert "01_a.ipynb, 02_b.ipynb" in capsys.readouterr().out
    assert main(["workspace", "--course", str(root)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["workspace", "--course", str(tmp_path / "nowhere")]) == 2


def test_make_lab_makes_the_copies_and_opens_jupyterlab_with_the_work_folder_at_hand() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("needs make")
    recipe = subprocess.run([make, "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "coursekit workspace" in recipe
    assert "jupyter lab" in recipe and "--ServerApp.root_dir=." in recipe
    assert "[test]" not in recipe  # the runtime only: test extras are for `make test`
    start = (ROOT / "README.md").read_text().split("## Start", 1)[1].split("\n## ", 1)[0]
    assert "my-work/" in start


def test_grade_and_progress_default_to_the_work_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    from coursekit.course import grade

    seen = {}

    def fake_grade(paths, exercises, timeout, **options):
        seen["paths"] = paths
        return []

    monkeypatch.setattr(grade, "grade", fake_grade)
    monkeypatch.setattr(grade, "format_table", lambda reports: "")
    assert main(["grade"]) == 0
    assert seen["paths"] == [str(layout.work_folder())]
    monkeypatch.delenv(layout.ENV)
    assert layout.progress_path() == layout.work_folder() / layout.FILENAME
