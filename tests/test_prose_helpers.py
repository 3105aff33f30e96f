"""The prose-versus-output helpers read numbers as a reader does, and fail on a disagreement."""

from __future__ import annotations

import pytest
from prose import assert_number_matches, assert_range_covers, assert_within, numbers, quoted_range


def test_numbers_reads_signs_commas_exponents_and_ranges():
    assert numbers("1,348 images, 449 held out") == [1348, 449]
    assert numbers("plain −0.09–(−0.06) at 24") == [-0.09, -0.06, 24]
    assert numbers("3.2e+02–4.1e+02") == [320, 410]
    assert numbers("0.39–1.65") == [0.39, 1.65]
    assert numbers("12.5% and 0.5") == [12.5, 0.5]


def test_quoted_range_finds_the_range_after_a_phrase():
    text = "with skips 0.98 / 0.98; without residuals the final loss is 0.39–1.65, with 0.1–0.2"
    assert quoted_range(text, after="without residuals") == (0.39, 1.65)
    assert quoted_range("ratio 2 to 6 at every depth") == (2, 6)
    with pytest.raises(ValueError, match="no range"):
        quoted_range("a few thousandths", after="a few")


def test_a_range_must_match_the_rounded_extremes():
    assert_range_covers((0.39, 1.65), [0.391, 1.2, 1.648])
    assert_range_covers((5.1, 9.1), [9.12, 5.08, 7.0])
    with pytest.raises(AssertionError, match="quotes 0.3–1.9"):
        assert_range_covers((0.3, 1.9), [0.39, 1.65])
    with pytest.raises(AssertionError, match="1.37"):  # "1.40" claims three digits: 1.37 is not it
        assert_range_covers(quoted_range("between 1.19–1.40"), [1.19, 1.37])
    with pytest.raises(AssertionError, match="quotes 1,|quotes 1347"):
        assert_number_matches(1347, 1348)


def test_a_bracket_holds_every_value():
    assert_within((0, 5), [1.2, 4.9])
    with pytest.raises(AssertionError, match="9.1"):
        assert_within((0, 5), [5.1, 9.1])
