"""Flags from the learner's source: what in their own code cells an instructor should look at.

These only flag; scores come from the guard (:mod:`.guard`), which undoes what it finds.
"""

from __future__ import annotations

import re

import nbformat

from .matching import text

_SUSPICIOUS = [
    (re.compile(r"\b(coursekit|checks|core|norms)\.[\w.]+\s*=[^=]"), "assigns to coursekit's attributes"),
    (re.compile(r"\btorch\.(?!backends\b)[\w.]+\s*=[^=]"), "assigns to torch's attributes"),
    (
        re.compile(r"\bsetattr\s*\(\s*(coursekit|torch|checks|core|norms|builtins)"),
        "patches a module with setattr",
    ),
    (
        re.compile(r"\bdrain\s*\(|\.drain\b|\b_RECORD\b|\brecord_result\b"),
        "touches the checks' result channel",
    ),
    (re.compile(r"coursekit-progress|COURSEKIT_PROGRESS|progress\.json"), "touches the progress file"),
    (
        re.compile(
            r"gc\.get_(objects|referrers)|_getframe|__closure__|cell_contents|getclosurevars|\bctypes\b"
            r"|get_parent\(|f_globals|f_back|_coursekit_grader"
        ),
        "reaches into the interpreter's internals",
    ),
]


def source_flags(nb: nbformat.NotebookNode, checks: list[int]) -> list[str]:
    """What a reader should look at in the learner's own code cells (never the pristine ones)."""
    names = sorted({m for k in checks for m in re.findall(r"\bcheck_\w+", text(nb.cells[k]))})
    patterns = list(_SUSPICIOUS)
    if names:
        alternatives = "|".join(names)
        redefine = (
            rf"^\s*(def\s+({alternatives})\b|({alternatives})\s*=[^=]|import\s.*\bas\s+({alternatives})\b)"
        )
        patterns.insert(0, (re.compile(redefine, re.M), "redefines a check"))
    flags: list[str] = []
    for k, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or k in checks:
            continue
        for pattern, what in patterns:
            m = pattern.search(text(cell))
            if m and what not in " ".join(flags):
                flags.append(f"cell {k} {what}: {m.group(0).strip()[:60]}")
    return flags
