"""Hold a lesson's prose to the stored outputs it describes.

A sentence such as "plain 0.39–1.65" in a markdown cell is a claim about a number a code cell
printed. These helpers find both by their text (not by cell index, so inserting a cell does not
break a test) and compare them, so a test fails as soon as a re-execution moves a number the
prose quotes, or an edit to the prose quotes a number no output shows.

Usage, in a ``tests/test_prose_*.py``::

    lesson = Notebook("notebooks/05_skip_vs_noskip.ipynb")
    quoted = quoted_range(lesson.markdown_with("a few thousandths"), after="plain")
    shown = numbers(lesson.output_line("plain", cell_with="gradient norm per block"))
    assert_range_covers(quoted, shown[:2])
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# 1,348 · −0.06 · 3.2e+02 · 12.5% · .5 ; thousands commas only between groups of three digits
_NUMBER = re.compile(r"(?<![\w.])[-−–]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+−]?\d+)?")
# "0.39–1.65", "0.39 - 1.65", "2 to 6"; the second number may carry its own sign
_RANGE = re.compile(
    r"(?P<lo>[-−]?\d[\d,]*(?:\.\d+)?(?:[eE][-+−]?\d+)?)\s*(?:–|—|-|to)\s*"
    r"(?P<hi>[-−]?\d[\d,]*(?:\.\d+)?(?:[eE][-+−]?\d+)?)"
)


class Quoted(float):
    """A number as the prose writes it: ``1.40`` keeps its ``.text``, so it claims three digits."""

    text: str

    def __new__(cls, token: str) -> Quoted:
        value = super().__new__(cls, token.replace("−", "-").replace("–", "-").replace(",", ""))
        value.text = token
        return value


def _to_float(token: str) -> float:
    return Quoted(token)


def numbers(text: str) -> list[float]:
    """Every number in ``text``, in order (unicode minus and thousands commas understood)."""
    found = []
    for match in _NUMBER.finditer(text):
        token = match.group(0)
        if not re.search(r"\d", token):
            continue
        if token[0] == "–":  # an en dash between two numbers is a range, not a sign
            token = token[1:]
        found.append(_to_float(token))
    return found


def quoted_range(text: str, after: str = "") -> tuple[float, float]:
    """The first range ``lo–hi`` in ``text`` after the phrase ``after`` (a ValueError if none)."""
    start = text.find(after) if after else 0
    if start < 0:
        raise ValueError(f"{after!r} is not in the text: {text[:200]!r}")
    match = _RANGE.search(text, start + len(after))
    if match is None:
        raise ValueError(f"no range 'lo–hi' after {after!r} in {text[start : start + 200]!r}")
    return _to_float(match.group("lo")), _to_float(match.group("hi"))


def quoted_number(text: str, after: str) -> float:
    """The first number in ``text`` after the phrase ``after``."""
    start = text.find(after)
    if start < 0:
        raise ValueError(f"{after!r} is not in the text: {text[:200]!r}")
    found = numbers(text[start + len(after) :])
    if not found:
        raise ValueError(f"no number after {after!r}")
    return found[0]


def _significant(value: float, digits: int) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _agrees(quoted: float, shown: float, rel: float) -> bool:
    """``quoted`` is ``shown`` as a reader would round it: to the quoted precision, or within ``rel``."""
    if math.isclose(quoted, shown, rel_tol=rel, abs_tol=1e-12):
        return True
    text = getattr(quoted, "text", f"{quoted:g}")  # "1.40" claims three digits, not two
    digits = len(re.sub(r"[^0-9]", "", re.split(r"[eE]", text)[0]).lstrip("0")) or 1
    return _significant(shown, digits) == _significant(quoted, digits)


def assert_range_covers(quoted: tuple[float, float], shown: Iterable[float], rel: float = 0.0) -> None:
    """The prose's ``lo–hi`` is the smallest and largest of the shown values, as rounded in the prose."""
    values = sorted(shown)
    if not values:
        raise AssertionError("no shown values to compare the quoted range with")
    lo, hi = quoted
    assert _agrees(lo, values[0], rel) and _agrees(hi, values[-1], rel), (
        f"the prose quotes {lo:g}–{hi:g}, the output shows {values[0]:g}–{values[-1]:g}"
    )


def assert_number_matches(quoted: float, shown: float, rel: float = 0.0) -> None:
    """A single quoted number is the shown one, as rounded in the prose."""
    assert _agrees(quoted, shown, rel), f"the prose quotes {quoted:g}, the output shows {shown:g}"


def assert_within(quoted: tuple[float, float], shown: Sequence[float]) -> None:
    """Every shown value lies inside the prose's (looser) ``lo–hi`` bracket."""
    lo, hi = quoted
    outside = [v for v in shown if not lo <= v <= hi]
    assert not outside, f"the prose brackets {lo:g}–{hi:g}, the output shows {outside}"


class Notebook:
    """A stored notebook, read once: its markdown and the text its code cells printed."""

    def __init__(self, path: str | Path):
        self.path = ROOT / path

    @cached_property
    def cells(self) -> list[dict]:
        return json.loads(self.path.read_text(encoding="utf-8"))["cells"]

    def _unique(self, kind: str, phrase: str, text_of) -> str:
        hits = [text_of(c) for c in self.cells if c["cell_type"] == kind and phrase in text_of(c)]
        if len(hits) != 1:
            raise AssertionError(f"{self.path.name}: {len(hits)} {kind} cells contain {phrase!r}, expected 1")
        return hits[0]

    def markdown_with(self, phrase: str) -> str:
        """The text of the one markdown cell that contains ``phrase``."""
        return self._unique("markdown", phrase, lambda c: "".join(c["source"]))

    def output_with(self, phrase: str) -> str:
        """The printed text (stdout, text/plain) of the one code cell whose output contains ``phrase``."""
        return self._unique("code", phrase, _printed)

    def output_line(self, start: str, cell_with: str) -> str:
        """The one line starting with ``start`` in the output of the cell that contains ``cell_with``."""
        lines = [ln for ln in self.output_with(cell_with).splitlines() if ln.strip().startswith(start)]
        if len(lines) != 1:
            raise AssertionError(f"{self.path.name}: {len(lines)} lines start with {start!r}, expected 1")
        return lines[0]


def _printed(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            parts.append("".join(output["text"]))
        elif "data" in output and "text/plain" in output["data"]:
            parts.append("".join(output["data"]["text/plain"]))
    return "".join(parts)
