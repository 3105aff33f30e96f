"""What grading found, and how the instructor reads it: a score per check, a report per notebook,
the table, the class summary, the CSV and the JSON document (which ``--merge`` reads back)."""

from __future__ import annotations

import collections
import csv
import io
import re
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...work.layout import RESULT_SYMBOLS

PASSED, TIMEOUT, DIED, UNGRADED = "passed", "timeout", "kernel died", "could not be graded"
WIDTH = 100


class GradeError(Exception):
    """Grading could not run at all (no such path, no kernel, a bad option)."""


class NotebookError(Exception):
    """One notebook could not be graded (unreadable, no matching exercise); the rest go on."""


def symbol(status: str) -> str:
    return RESULT_SYMBOLS.get(status, "⏱" if status == TIMEOUT else "💀" if status == DIED else "❌")


@dataclass(frozen=True)
class Score:
    """One check's result in one notebook."""

    check: str
    status: str  # passed | failed | not attempted | error | timeout | kernel died
    message: str = ""
    hint: str = ""
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASSED


@dataclass
class NotebookReport:
    path: str
    exercise: str = ""
    scores: list[Score] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    problem: str = ""  # why it could not be graded
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(s.passed for s in self.scores)

    @property
    def graded(self) -> bool:
        return not self.problem

    def flag(self, text: str) -> None:
        if text not in self.flags:
            self.flags.append(text)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "exercise": self.exercise,
            "graded": self.graded,
            "problem": self.problem,
            "passed": self.passed,
            "total": len(self.scores),
            "flagged": bool(self.flags),
            "flags": self.flags,
            "seconds": round(self.seconds, 1),
            "scores": [{**asdict(s), "passed": s.passed} for s in self.scores],
        }

    @classmethod
    def from_json(cls, data: dict) -> NotebookReport:
        """The report :meth:`to_json` wrote (``--merge`` reads shards back with it)."""
        scores = [
            Score(s["check"], s["status"], s["message"], s["hint"], s["detail"]) for s in data["scores"]
        ]
        return cls(
            str(data["path"]),
            str(data["exercise"]),
            scores,
            list(data["flags"]),
            str(data["problem"]),
            float(data["seconds"]),
        )


def graded_line(k: int, n: int, name: str, r: NotebookReport) -> str:
    """The line printed as notebook ``k`` of ``n`` is done."""
    if not r.graded:
        return f"[{k}/{n}] {name}: {UNGRADED}: {r.problem}"
    flag = "  ⚠ flagged" if r.flags else ""
    return f"[{k}/{n}] {name}: {r.passed}/{len(r.scores)}{flag} ({r.seconds:.0f} s)"


def short_names(paths: list[str]) -> list[str]:
    """The shortest path tails that tell the notebooks apart (usually the file names)."""
    parts = [Path(p).parts for p in paths]
    depth = 1
    while depth < max((len(p) for p in parts), default=1):
        tails = [str(Path(*p[-depth:])) for p in parts]
        if len(set(tails)) == len(tails):
            return tails
        depth += 1
    return [str(Path(*p)) for p in parts]


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent) or []


def _rows(name: str, width: int, r: NotebookReport) -> list[str]:
    """One notebook's row, then its first failure's message, the learner's line, hint and flags."""
    if not r.graded:
        return [f"{name.ljust(width)}  {'-':>5}  {UNGRADED}", *_wrap(r.problem, " " * (width + 9))]
    first = next((s for s in r.scores if not s.passed), None)
    score = f"{r.passed}/{len(r.scores)}"
    what = "" if first is None else f"{symbol(first.status)} {first.check}: {first.status}"
    lines = [f"{name.ljust(width)}  {score:>5}  {what}".rstrip()]
    indent = " " * (width + 11)
    if first is not None and first.status not in ("not attempted",):
        lines += _wrap(first.message, indent)
        lines += [indent + line for line in first.detail.splitlines()[:2]]  # the learner's line
        if first.hint:
            lines += _wrap(f"hint: {first.hint}", indent)
    if r.flags:
        lines += _wrap("⚠ flagged: " + "; ".join(r.flags), " " * (width + 9))
    return lines


def format_table(reports: list[NotebookReport]) -> str:
    """A row per notebook (name, score, first failing check), its hint and flags on their own lines."""
    names = short_names([r.path for r in reports])
    width = max([len("notebook"), *(len(n) for n in names)])
    lines = [f"{'notebook'.ljust(width)}  score  first failing check", "-" * (width + 40)]
    for name, r in zip(names, reports, strict=True):
        lines += _rows(name, width, r)
    graded = [r for r in reports if r.graded]
    passed, total = sum(r.passed for r in graded), sum(len(r.scores) for r in graded)
    tail = f"total: {passed}/{total} checks passed in {len(graded)} notebook(s)"
    if len(graded) < len(reports):
        tail += f"; {len(reports) - len(graded)} could not be graded"
    flagged = sum(bool(r.flags) for r in graded)
    if flagged:
        tail += f"; {flagged} flagged"
    lines.append(tail)
    return "\n".join(line.rstrip() for line in lines)


def class_summary(reports: list[NotebookReport], top: int = 5) -> dict[str, object]:
    """Per check: how many passed, how many did each other status; the hints hit most often."""
    graded = [r for r in reports if r.graded]
    checks: dict[str, collections.Counter] = {}
    hints: collections.Counter = collections.Counter()
    for r in graded:
        for s in r.scores:
            checks.setdefault(s.check, collections.Counter())[s.status] += 1
            if not s.passed and s.status not in ("not attempted", DIED):
                hints[(s.check, s.hint or _gist(s.message))] += 1
    return {
        "notebooks": len(reports),
        "graded": len(graded),
        "flagged": sum(bool(r.flags) for r in graded),
        "checks": {
            name: {"passed": c[PASSED], "of": sum(c.values()), "statuses": dict(c)}
            for name, c in checks.items()
        },
        "hints": [{"check": c, "hint": h, "count": n} for (c, h), n in hints.most_common(top)],
    }


def _gist(message: str) -> str:
    """A message without the numbers that differ from notebook to notebook (for counting)."""
    return re.sub(
        r"line \d+|\d+(\.\d+)?( s)?", "…", message.split(":")[0] if "raised" in message else message
    )


def format_summary(reports: list[NotebookReport]) -> str:
    summary = class_summary(reports)
    lines = ["class summary (what to re-teach):"]
    checks = summary["checks"]
    width = max([5, *(len(n) for n in checks)])  # type: ignore[union-attr]
    for name, c in sorted(checks.items(), key=lambda kv: kv[1]["passed"] / max(1, kv[1]["of"])):  # type: ignore[union-attr]
        others = ", ".join(f"{n} {s}" for s, n in sorted(c["statuses"].items()) if s != PASSED)
        lines.append(
            f"  {name.ljust(width)}  {c['passed']}/{c['of']} passed" + (f"  ({others})" if others else "")
        )
    if summary["hints"]:
        lines.append("hints hit most often:")
        for h in summary["hints"]:  # type: ignore[union-attr]
            lines += textwrap.wrap(
                f"{h['count']}× {h['check']}: {h['hint']}",
                WIDTH,
                initial_indent="  ",
                subsequent_indent="      ",
            )
    return "\n".join(lines)


def json_document(reports: list[NotebookReport]) -> dict[str, object]:
    """The class report as JSON: every notebook's scores and flags, and the class summary."""
    return {"notebooks": [r.to_json() for r in reports], "summary": class_summary(reports)}


CSV_FIELDS = ["notebook", "exercise", "check", "status", "passed", "message", "hint", "flags"]


def write_csv(reports: list[NotebookReport], target: io.TextIOBase) -> None:
    """A row per notebook and check (a notebook that could not be graded: one row saying why)."""
    writer = csv.DictWriter(target, CSV_FIELDS)
    writer.writeheader()
    for r in reports:
        flags = "; ".join(r.flags)
        if not r.graded:
            writer.writerow({"notebook": r.path, "status": UNGRADED, "passed": False, "message": r.problem})
        for s in r.scores:
            writer.writerow(
                {
                    "notebook": r.path,
                    "exercise": r.exercise,
                    "check": s.check,
                    "status": s.status,
                    "passed": s.passed,
                    "message": s.message,
                    "hint": s.hint,
                    "flags": flags,
                }
            )
