"""Shared test setup: keep nbval away from notebook fixtures, and progress out of the course folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Notebooks under tests/fixtures/ are inputs for the grader tests, not notebooks to validate.
collect_ignore_glob = ["fixtures/*"]

# Kernels started by nbval (notebooks/, solutions/) inherit this: their checks record progress
# in a scratch file, never in the learner's .coursekit-progress.json.
os.environ.setdefault(
    "COURSEKIT_PROGRESS", str(Path(tempfile.mkdtemp(prefix="coursekit-")) / "progress.json")
)


@pytest.fixture(autouse=True)
def progress_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test records progress in its own file."""
    path = tmp_path / "progress.json"
    monkeypatch.setenv("COURSEKIT_PROGRESS", str(path))
    return path
