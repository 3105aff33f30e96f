"""The grader's guard, in this process (no kernel): it runs a check on the pristine world,
signs what it found, flags what the learner changed, and gives the learner's world back."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from unittest import mock

import pytest
import torch

import coursekit.checks.core as core
import coursekit.checks.norms as norms
from coursekit.course.grade import guard as guard_module

KEY = b"k" * 32


class _Shell:
    def __init__(self, namespace: dict) -> None:
        self.user_ns = namespace


class _stub(torch.nn.Module):  # noqa: N801 - the exercise's stub, as a learner leaves it
    def __init__(self, normalized_shape: int, eps: float = 1e-5) -> None:
        super().__init__()
        raise NotImplementedError()


@pytest.fixture
def guard(tmp_path: Path):
    namespace: dict[str, object] = {"LayerNorm": _stub}
    with mock.patch("IPython.get_ipython", lambda: _Shell(namespace)):
        run = guard_module.make_guard(KEY, str(tmp_path))

    def call(n: int, source: str = "check_layer_norm(LayerNorm)") -> dict:
        nonce = f"nonce-{n}"
        run(n, nonce, source)
        sign, payload = (tmp_path / f"{n}.json").read_text().split("\n", 1)
        assert hmac.compare_digest(
            sign, hmac.new(KEY, (nonce + payload).encode(), hashlib.sha256).hexdigest()
        )
        return json.loads(payload)

    call.namespace = namespace  # type: ignore[attr-defined]
    return call


def test_a_stub_is_not_attempted_and_nothing_is_flagged(guard) -> None:
    report = guard(1)
    assert [r["status"] for r in report["results"]] == ["not attempted"]
    assert report["flags"] == [] and report["error"] is None


def test_patches_are_undone_for_the_check_flagged_and_given_back_afterwards(guard) -> None:
    original_close, original_body = torch.testing.assert_close, norms._norm_check
    original_passed = core.CheckResult.__dict__["passed"]
    guard.namespace["check_layer_norm"] = lambda cls: None  # a redefined check
    try:
        torch.testing.assert_close = lambda *a, **k: None
        norms._norm_check = lambda *a, **k: None
        core.CheckResult.passed = property(lambda self: True)
        report = guard(2)
        assert torch.testing.assert_close is not original_close  # the learner's world is given back
        assert norms._norm_check is not original_body
    finally:
        torch.testing.assert_close, norms._norm_check = original_close, original_body
        core.CheckResult.passed = original_passed
    assert [r["status"] for r in report["results"]] == ["not attempted"]
    flags = " | ".join(report["flags"])
    assert "torch.testing.assert_close" in flags and "coursekit.checks.norms._norm_check" in flags
    assert "CheckResult.passed" in flags and "redefines check_layer_norm" in flags


def test_a_check_that_cannot_find_the_learners_class_reports_the_error(guard) -> None:
    del guard.namespace["LayerNorm"]
    report = guard(3)
    assert report["results"] == [] and report["error"]["ename"] == "NameError"


def test_a_patch_made_while_the_check_runs_fails_that_check_and_is_flagged(guard) -> None:
    original = core.close

    class Sneaky(torch.nn.Module):
        def __init__(self, normalized_shape, eps=1e-5):
            super().__init__()
            core.close = lambda *a, **k: True  # the learner's constructor patches the checks
            raise NotImplementedError()

    guard.namespace["LayerNorm"] = Sneaky
    try:
        report = guard(4)
    finally:
        core.close = original
    assert report["results"][0]["status"] == "failed"
    assert any("while a check ran" in f for f in report["flags"])
    assert core.close is original
