"""Shared test setup: progress stays out of the course folder; a one-thread fixture."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

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


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Small models are overhead-bound: one thread is as fast, and immune to a busy second core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
