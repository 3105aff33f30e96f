"""The progress file: atomic, shared by concurrent kernels, forgiving of corruption."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from coursekit.course.cli import main
from coursekit.work import layout, progress

ROOT = Path(__file__).resolve().parents[1]


def test_the_latest_result_is_kept_and_a_pass_goes_away_after_a_failing_rerun(progress_file: Path) -> None:
    progress.record_result("layer_norm", True)
    progress.record_result("layer_norm", False, hint="eps belongs inside the square root")
    progress.record_result("rms_norm", False, status="not attempted")
    progress.record_result("mlp", True)
    saved = progress.load()
    assert saved["layer_norm"]["passed"] is False and saved["layer_norm"]["status"] == "failed"
    assert saved["layer_norm"]["hint"] == "eps belongs inside the square root"
    assert saved["rms_norm"]["status"] == "not attempted" and saved["mlp"]["status"] == "passed"
    progress.record_result("layer_norm", True)  # fixed again
    assert progress.load()["layer_norm"] == {**progress.load()["layer_norm"], "passed": True, "hint": ""}
    assert json.loads(progress_file.read_text())["version"] == 1
    assert [p.name for p in progress_file.parent.iterdir()] == ["progress.json"]  # no temp or lock file left


def test_the_default_file_is_in_the_work_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "exercises").mkdir()
    (tmp_path / "my-work").mkdir()
    monkeypatch.delenv(layout.ENV)
    monkeypatch.chdir(tmp_path / "my-work")  # where a learner's kernel runs
    assert progress.progress_path() == tmp_path.resolve() / "my-work" / ".coursekit-progress.json"
    ignored = (ROOT / ".gitignore").read_text()
    assert ".coursekit-progress.json" in ignored and "/my-work/" in ignored


def test_outside_the_course_the_installed_clone_is_the_course(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert progress.course_root() == ROOT


def test_progress_survives_a_kernel_restart(progress_file: Path) -> None:
    code = "from coursekit.work.progress import record_result; record_result('rms_norm', True)"
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


@pytest.fixture
def exercises(tmp_path: Path) -> Path:
    """An exercises folder with one notebook of four checks, as `coursekit build` writes them."""
    folder = tmp_path / "exercises"
    folder.mkdir()
    sources = [
        "check_layer_norm(LayerNorm)",
        "check_rms_norm(RMSNorm)",
        'check_answer("ln_variance", answer_variance)',
        'check_answer("ln_unbiased_factor", answer_unbiased_factor)',
    ]
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# Exercise"}]
    cells += [
        {"cell_type": "code", "metadata": {"tags": ["check"]}, "source": s, "outputs": []} for s in sources
    ]
    (folder / "exercise_02_layer_norm.ipynb").write_text(
        json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5})
    )
    return folder


def test_the_report_lists_every_exercise_check(
    progress_file: Path, exercises: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    progress.record_result("layer_norm", True)
    assert main(["progress", "--exercises", str(exercises)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["exercise_02_layer_norm", "  ✅ layer_norm: passed", "  ⬜ rms_norm: not attempted"]
    assert out[-1].startswith("1 of 4 checks passed")
    assert main(["progress", "--exercises", str(ROOT / "missing")]) == 2


def test_the_course_exercises_are_all_listed(progress_file: Path) -> None:
    names = progress.expected_checks(ROOT / "exercises")
    assert sorted(names) == sorted(p.stem for p in (ROOT / "exercises").glob("*.ipynb"))
    assert all(names.values()), "every exercise has at least one check"


def test_the_report_uses_the_one_vocabulary_and_wraps_hints_at_words(
    progress_file: Path, exercises: Path
) -> None:
    hint = "your variance divides by n - 1 (unbiased); LayerNorm divides by n, " * 3
    progress.record_result("layer_norm", False, hint=hint)
    progress.record_result("rms_norm", False, status="error")
    lines = progress.report(exercises, width=40).splitlines()
    assert lines[1] == f"  {layout.RESULT_SYMBOLS['failed']} layer_norm: failed"
    hint_lines = [line for line in lines if line.startswith("      ")]
    assert len(hint_lines) > 3 and all(len(line) <= 40 for line in hint_lines)
    words = " ".join(line.strip() for line in hint_lines).split()
    assert words == ["hint:", *hint.split()]  # every word whole: no word broken across lines
    assert f"{layout.RESULT_SYMBOLS['error']} rms_norm: error" in lines[len(hint_lines) + 2]
    for word, symbol in layout.RESULT_SYMBOLS.items():
        assert f"{symbol} {word}" in lines[-1]  # the legend


def test_an_old_file_without_status_still_reads(progress_file: Path) -> None:
    progress_file.write_text(json.dumps({"version": 1, "checks": {"layer_norm": {"passed": True}}}))
    assert progress.status_of(progress.load()["layer_norm"]) == "passed"
    assert progress.status_of(None) == "not attempted"


class LayerNorm(torch.nn.Module):
    """A learner's LayerNorm, from scratch."""

    def __init__(self, normalized_shape: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(normalized_shape))
        self.bias = torch.nn.Parameter(torch.zeros(normalized_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


def test_a_check_run_with_record_false_leaves_no_trace(progress_file: Path, capsys) -> None:
    from coursekit.checks import check_layer_norm
    from coursekit.checks.core import drain

    drain()  # forget results other tests left in this process
    assert check_layer_norm(LayerNorm, record=False).passed
    assert "✅" in capsys.readouterr().out
    assert progress.load(progress_file) == {}
    assert drain("nonce") == "nonce []"  # nothing kept for the grader either
    check_layer_norm(LayerNorm)
    assert progress.load(progress_file)["layer_norm"]["passed"]
