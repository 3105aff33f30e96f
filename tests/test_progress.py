"""The progress file: atomic, shared by concurrent kernels, forgiving of corruption."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.course import layout, progress
from coursekit.course.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_a_result_is_recorded_and_a_pass_is_kept(progress_file: Path) -> None:
    progress.record_result("layer_norm", True)
    progress.record_result("layer_norm", False)  # a later failed attempt does not undo the pass
    progress.record_result("rms_norm", False)
    saved = progress.load()
    assert saved["layer_norm"]["passed"] is True and saved["rms_norm"]["passed"] is False
    assert json.loads(progress_file.read_text())["version"] == 1
    assert [p.name for p in progress_file.parent.iterdir()] == ["progress.json"]  # no temp or lock file left


def test_the_default_file_is_in_the_course_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "exercises").mkdir()
    monkeypatch.delenv(layout.ENV)
    monkeypatch.chdir(tmp_path / "exercises")  # where a learner's kernel runs
    assert progress.progress_path() == tmp_path.resolve() / ".coursekit-progress.json"
    assert ".coursekit-progress.json" in (ROOT / ".gitignore").read_text()


def test_outside_the_course_the_installed_clone_is_the_course(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert progress.course_root() == ROOT


def test_progress_survives_a_kernel_restart(progress_file: Path) -> None:
    code = "from coursekit.course.progress import record_result; record_result('rms_norm', True)"
    subprocess.run([sys.executable, "-c", code], check=True)  # the environment carries the path
    assert progress.load()["rms_norm"]["passed"] is True


def _record_many(worker: int) -> None:
    for k in range(20):
        progress.record_result(f"check_{worker}_{k}", True)


def test_concurrent_writers_lose_nothing(progress_file: Path) -> None:
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_record_many, range(4))
    assert len(progress.load()) == 80


def test_a_corrupt_file_is_set_aside_with_a_warning(progress_file: Path) -> None:
    progress_file.write_text("{ not json")
    with pytest.warns(UserWarning, match="could not be read"):
        progress.record_result("layer_norm", True)
    assert progress.load()["layer_norm"]["passed"] is True
    assert progress_file.with_name("progress.json.corrupt").read_text() == "{ not json"


def test_the_report_lists_every_exercise_check(
    progress_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    progress.record_result("layer_norm", True)
    assert main(["progress", "--exercises", str(ROOT / "exercises")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["02_layer_norm", "  ✅ layer_norm", "  ⬜ rms_norm"]
    assert out[-1] == "1 of 4 checks passed"
    assert main(["progress", "--exercises", str(ROOT / "missing")]) == 2


def test_a_check_run_with_record_false_leaves_no_trace(progress_file: Path, capsys) -> None:
    from coursekit import LayerNorm
    from coursekit.checks import check_layer_norm
    from coursekit.checks.core import drain

    drain()  # forget results other tests left in this process
    assert check_layer_norm(LayerNorm, record=False).passed
    assert "✅" in capsys.readouterr().out
    assert progress.load(progress_file) == {}
    assert drain("nonce") == "nonce []"  # nothing kept for the grader either
    check_layer_norm(LayerNorm)
    assert progress.load(progress_file)["layer_norm"]["passed"]
