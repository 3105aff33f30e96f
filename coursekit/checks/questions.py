"""Conceptual questions, checked against salted hashes so the answer is not in the notebook.

An answer is normalised (a choice letter lower-cased; a number rounded to the question's
decimals), salted with the question's id and hashed; only the hash is stored here. After a
correct answer the explanation is shown; after a wrong one, a nudge that gives nothing away.
Guessing a multiple-choice answer is of course possible: the hash only keeps the answer
from being read off the page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from .core import CheckFailed, CheckResult, check


@dataclass(frozen=True)
class Question:
    """One question: ``choices`` (letters) or ``decimals`` (numeric), and the hash of the answer."""

    digest: str  # sha256 of f"{id}:{normalised answer}"
    explanation: str  # shown after a correct answer
    nudge: str  # shown after a wrong answer
    choices: tuple[str, ...] = ()  # e.g. ("a", "b", "c"); empty for a numeric answer
    decimals: int = 3  # numeric answers are compared rounded to this many decimals


def digest(question_id: str, normalised: str) -> str:
    return hashlib.sha256(f"{question_id}:{normalised}".encode()).hexdigest()


QUESTIONS = {
    "ln_variance": Question(
        digest="a23b52e395d66ef64a673c95c476c0947b5fe3ae60637ac728cf57e806de605a",
        explanation="LayerNorm divides by n: it normalises the features actually present, and "
        "torch.nn.LayerNorm computes the biased variance. torch.var's default (n - 1) is the bug.",
        nudge="think about what torch.nn.LayerNorm computes for a row of n features, and whether "
        "it estimates anything from a sample",
        choices=("a", "b", "c"),
    ),
    "ln_unbiased_factor": Question(
        digest="dd577b757432e133b5ff9107c2b15825270283df54eaf9458d606cd9460e34df",
        explanation="The unbiased std is sqrt(n / (n - 1)) times the biased one, so the output "
        "shrinks by sqrt((n - 1) / n) = sqrt(3/4) ≈ 0.866 for n = 4; for d_model = 512 it is "
        "0.999, small enough to go unnoticed, which is why the bug survives.",
        nudge="write both standard deviations for n = 4 features and take their ratio",
        decimals=3,
    ),
}


def _normalise(question: Question, answer: object) -> str:
    if question.choices:
        if not isinstance(answer, str) or answer.strip().lower() not in question.choices:
            options = ", ".join(repr(c) for c in question.choices)
            raise CheckFailed(
                f"the answer should be one of {options}, got {answer!r}",
                "answer with the letter of your choice, as a string",
            )
        return answer.strip().lower()
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise CheckFailed(
            f"the answer should be a number, got {answer!r}",
            "answer with a number (a Python expression like 1/3 is fine)",
        )
    return f"{round(float(answer), question.decimals):.{question.decimals}f}"


def check_answer(question_id: str, answer: object | Callable[[], object]) -> CheckResult:
    """Check the answer to ``question_id``; ``answer`` may be a value or a function returning it.

    In the exercises the answer is a function, so that the unanswered stub raises
    ``NotImplementedError`` inside the check ("not attempted") rather than in its own cell.
    """
    if question_id not in QUESTIONS:
        raise ValueError(f"unknown question {question_id!r}; known: {', '.join(QUESTIONS)}")
    return check(question_id)(_check_one)(QUESTIONS[question_id], question_id, answer)


def _check_one(question: Question, question_id: str, answer: object) -> str:
    value = answer() if callable(answer) else answer
    if digest(question_id, _normalise(question, value)) != question.digest:
        raise CheckFailed(f"{value!r} is not the answer", question.nudge)
    return f"correct. {question.explanation}"
