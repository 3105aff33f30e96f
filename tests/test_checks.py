"""The checks: the solutions pass, the stubs are "not attempted", each known bug gets its hint."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import nbformat
import pytest
import torch
from wrong_implementations import CORRECT, MAKES_ARGUMENTS, SIGNATURE_HINT, WRONG

import coursekit
from coursekit import checks
from coursekit.checks import blocks, core, experiments, mlp, norms, probes, questions, residual, schedules
from coursekit.course.build import CHECK_TAG

HINTS = {
    "layer_norm": norms.HINTS,
    "rms_norm": norms.HINTS,
    "residual": residual.HINTS,
    "mlp": mlp.HINTS,
    "transformer_block": blocks.HINTS,
    "warmup": schedules.HINTS,
    "grad_norm_probe": probes.HINTS,
    "fair_comparison": experiments.HINTS,
}


def run_check(check: str, learner: object) -> core.CheckResult:
    args = learner() if check in MAKES_ARGUMENTS else (learner,)
    return getattr(checks, f"check_{check}")(*args)


ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "exercise_02_layer_norm.ipynb"
EXERCISE = ROOT / "exercises" / "exercise_02_layer_norm.ipynb"


def run_notebook_here(path: Path) -> list[core.CheckResult]:
    """Run a notebook's cells in this process (no kernel); return what its check cells returned."""
    namespace: dict[str, object] = {}
    results = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            if CHECK_TAG in cell.metadata.get("tags", []):
                results.append(eval(cell.source, namespace))  # a check cell is one call
            else:
                exec(compile(cell.source, f"<{path.name}:{cell.id}>", "exec"), namespace)
    return results


def test_the_solution_notebook_passes_every_check() -> None:
    results = run_notebook_here(SOLUTION)
    assert [r.name for r in results] == ["layer_norm", "rms_norm", "ln_variance", "ln_unbiased_factor"]
    assert all(r.passed for r in results), results


def test_the_exercise_stubs_are_not_attempted() -> None:
    results = run_notebook_here(EXERCISE)
    assert len(results) == 4
    assert {r.status for r in results} == {core.NOT_ATTEMPTED}
    assert not any(r.passed for r in results)


@pytest.mark.parametrize(("cls", "check", "bug"), WRONG, ids=[w[0].__name__ for w in WRONG])
def test_each_wrong_implementation_fails_with_its_hint(cls: type, check: str, bug: str) -> None:
    result = run_check(check, cls)
    assert not result.passed
    assert result.status == core.FAILED
    if bug == "signature":  # a constructor that does not fit: the hint quotes the contract's signature
        assert result.hint.startswith(SIGNATURE_HINT) and "(" in result.hint
    else:
        assert result.hint == HINTS[check][bug]


def test_the_catalogue_covers_every_bug_the_issue_names() -> None:
    bugs = {bug for _, _, bug in WRONG}
    named = {
        "eps_outside_sqrt",
        "unbiased_variance",
        "wrong_dim",
        "missing_gain",
        "missing_bias",
        "gain_init",
        "no_affine",
        "in_place",
    }
    assert named <= bugs
    assert len(WRONG) >= 25


@pytest.mark.parametrize(("cls", "check"), CORRECT, ids=[c[0].__name__ for c in CORRECT])
def test_correct_implementations_in_other_styles_pass(cls: type, check: str) -> None:
    assert run_check(check, cls).passed


@pytest.mark.parametrize(
    ("cls", "check"),
    [
        (coursekit.LayerNorm, "layer_norm"),
        (coursekit.RMSNorm, "rms_norm"),
        (torch.nn.LayerNorm, "layer_norm"),
        (torch.nn.RMSNorm, "rms_norm"),
        (coursekit.MLP, "mlp"),
        (coursekit.Residual, "residual"),
        (torch.nn.TransformerEncoderLayer, "transformer_block"),
    ],
)
def test_handing_in_the_reference_or_the_torch_module_fails_a_from_scratch_exercise(
    cls: type, check: str
) -> None:
    result = getattr(checks, f"check_{check}")(cls)
    assert result.status == core.FAILED
    assert "from scratch" in result.hint or "do not subclass" in result.hint


def test_a_check_prints_one_line_and_returns_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    result = checks.check_layer_norm(next(c for c, ch in CORRECT if ch == "layer_norm"))
    assert capsys.readouterr().out == "✅ layer_norm: passed\n"
    assert result.passed is True and result.message == "passed"


def test_a_failed_check_prints_a_cross_the_first_differences_and_a_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cls = next(c for c, _, bug in WRONG if bug == "unbiased_variance")
    checks.check_layer_norm(cls)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "❌ layer_norm failed: output differs from the reference"
    assert "got" in lines[1] and "expected" in lines[1]
    hint = " ".join(line.strip() for line in lines[2:])
    assert lines[2].startswith("   hint: ") and all(line.startswith("   ") for line in lines[2:])
    assert hint == "hint: " + HINTS["layer_norm"]["unbiased_variance"]


class Raises(torch.nn.Module):
    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(normalized_shape))
        self.bias = torch.nn.Parameter(torch.zeros(normalized_shape))

    def forward(self, x):
        return x @ self.weight.view(1, -1)  # a shape error from the learner's own line


def test_an_exception_is_two_lines_naming_the_learners_line() -> None:
    result = checks.check_layer_norm(Raises)
    assert result.status == core.ERROR and not result.passed
    assert result.message.startswith("your code raised RuntimeError: ")
    assert result.detail.startswith("line ") and "x @ self.weight.view(1, -1)" in result.detail
    assert "Traceback" not in str(result)
    assert str(result).splitlines()[-1] == "   " + result.detail  # the error, then the learner's line


def test_passing_an_instance_or_a_non_class_gets_a_hint_not_an_exception() -> None:
    assert "pass the class itself" in checks.check_layer_norm(torch.nn.LayerNorm(5)).hint
    assert not checks.check_rms_norm("RMSNorm").passed


def test_checks_are_seeded_and_leave_the_same_verdict_every_time() -> None:
    cls = next(c for c, _, bug in WRONG if bug == "eps_outside_sqrt")
    first, second = checks.check_layer_norm(cls), checks.check_layer_norm(cls)
    assert first == second  # same first differing values, so the same inputs


def test_results_are_recorded_for_the_grader_and_the_progress_file(progress_file: Path) -> None:
    core.drain()
    checks.check_layer_norm(next(c for c, ch in CORRECT if ch == "layer_norm"))
    checks.check_rms_norm(next(c for c, _, bug in WRONG if bug == "no_sqrt"))
    nonce, payload = core.drain("n0nce").split(" ", 1)
    assert nonce == "n0nce"
    assert [(r["name"], r["passed"]) for r in json.loads(payload)] == [
        ("layer_norm", True),
        ("rms_norm", False),
    ]
    assert core.drain("n0nce") == "n0nce []"
    saved = json.loads(progress_file.read_text())["checks"]
    assert saved["layer_norm"]["passed"] is True and saved["rms_norm"]["passed"] is False


def test_questions_accept_the_answer_and_explain() -> None:
    result = checks.check_answer("ln_variance", lambda: " B ")
    assert result.passed and "divides by n" in result.message
    assert checks.check_answer("ln_unbiased_factor", 0.8660254).passed
    assert checks.check_answer("ln_unbiased_factor", 0.866).passed


def test_questions_refuse_wrong_answers_without_giving_the_answer_away() -> None:
    wrong = checks.check_answer("ln_variance", "a")
    assert not wrong.passed and wrong.hint == questions.QUESTIONS["ln_variance"].nudge
    assert "biased" not in wrong.hint
    assert not checks.check_answer("ln_unbiased_factor", 0.87).passed
    assert "one of" in checks.check_answer("ln_variance", "d").message
    assert "a number" in checks.check_answer("ln_unbiased_factor", "0.866").message


def test_answers_are_stored_only_as_salted_hashes() -> None:
    source = Path(questions.__file__).read_text()
    assert '0.866"' not in source and 'digest="' in source
    assert questions.digest("ln_variance", "b") != questions.digest("other", "b")  # salted by the id


def test_an_unanswered_question_is_not_attempted_and_an_unknown_one_is_an_authoring_error() -> None:
    def stub():
        raise NotImplementedError()

    assert checks.check_answer("ln_variance", stub).status == core.NOT_ATTEMPTED
    with pytest.raises(ValueError, match="unknown question"):
        checks.check_answer("no_such_question", "a")


def test_a_check_leaves_the_learners_random_streams_as_they_were() -> None:
    import random

    import numpy as np

    for seed in (0, 1):
        torch.manual_seed(seed), random.seed(seed), np.random.seed(seed)
        expected = (torch.rand(3), random.random(), np.random.rand())
        torch.manual_seed(seed), random.seed(seed), np.random.seed(seed)
        checks.check_layer_norm(next(c for c, _, bug in WRONG if bug == "eps_outside_sqrt"))
        checks.check_transformer_block(next(c for c, ch in CORRECT if ch == "transformer_block"))
        got = (torch.rand(3), random.random(), np.random.rand())
        assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]


def test_a_check_keeps_the_learners_grad_mode_and_default_dtype() -> None:
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with torch.no_grad():
            assert checks.check_layer_norm(next(c for c, ch in CORRECT if ch == "layer_norm")).passed
            assert not torch.is_grad_enabled()
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(before)


def test_a_contract_clause_is_named_never_blamed_on_the_learner() -> None:
    from wrong_implementations import MLPNoBias, MLPNoDefault

    no_bias = checks.check_mlp(MLPNoBias)
    assert no_bias.status == core.FAILED and "no bias" in no_bias.message
    assert "state_dict" not in no_bias.message and "raised" not in no_bias.message
    no_default = checks.check_mlp(MLPNoDefault)
    assert no_default.status == core.FAILED and "d_hidden" in no_default.message


def test_an_error_inside_the_checks_own_call_is_a_contract_failure_not_the_learners_error() -> None:
    class NoForward(torch.nn.Module):
        def __init__(self, sublayer):
            super().__init__()
            self.sublayer = sublayer

        forward = None  # calling the module fails inside torch, not in a line of the learner's

    result = checks.check_residual(NoForward)
    assert result.status == core.FAILED and "contract" in result.message


def test_hints_are_wrapped_at_word_boundaries() -> None:
    result = checks.check_layer_norm(torch.nn.LayerNorm)
    lines = str(result).splitlines()
    assert all(len(line) <= core.WIDTH for line in lines)
    words = set(" ".join(line.strip() for line in lines).split())
    assert set(result.hint.split()) <= words | {"hint:"}


def test_numbers_in_other_types_are_numbers() -> None:
    import numpy as np

    assert checks.check_answer("ln_unbiased_factor", torch.tensor(0.8660254)).passed
    assert checks.check_answer("ln_unbiased_factor", np.float32(0.8660254)).passed
    assert core.as_float(torch.tensor([1.0, 2.0])) is None and core.as_float(True) is None


def test_the_catalogue_has_wrong_and_right_implementations_for_every_check() -> None:
    wrong = {check for _, check, _ in WRONG}
    right = {check for _, check in CORRECT}
    assert set(HINTS) <= wrong and set(HINTS) <= right
    assert len(WRONG) >= 120


def test_a_demonstration_may_show_the_reference_passing_but_never_records_it(progress_file: Path) -> None:
    core.drain()
    assert checks.check_layer_norm(coursekit.LayerNorm, record=False).passed
    assert not checks.check_layer_norm(torch.nn.LayerNorm, record=False).passed
    assert core.drain("n") == "n []" and not progress_file.exists()
    assert not checks.check_layer_norm(coursekit.LayerNorm).passed  # recorded: from scratch applies
