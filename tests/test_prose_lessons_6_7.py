"""Lessons 6, 6b, 7 and 7b: every measured number the prose quotes is held to the stored output it describes.

Two layers. ``test_every_measured_number_in_the_prose_is_printed`` reads every decimal number in
the lessons' markdown (measured values are decimals; the papers' figures and the configurations'
constants are listed apart) and requires the stored outputs to show it, as rounded in the prose.
The targeted tests below then hold each quoted range to the extremes of the very line it describes,
so a re-execution that moves a number, or an edit that quotes one no output shows, fails here.
"""

from __future__ import annotations

import re

import pytest
from prose import _RANGE, Notebook, numbers

# Strict versions of prose.py's checks: a quoted "1.40" must be 1.40 to two decimals, not any value
# that rounds to 1.4 (prose.py reads the quote as a float and loses its trailing zero).


def _raw_range(text: str, after: str) -> tuple[str, str]:
    start = text.find(after)
    assert start >= 0, (after, text[:200])
    match = _RANGE.search(text, start + len(after))
    assert match, (after, text[start : start + 200])
    return match.group("lo"), match.group("hi")


def _raw_number(text: str, after: str) -> str:
    start = text.find(after)
    assert start >= 0, (after, text[:200])
    match = re.search(r"[-−]?\d[\d,]*(?:\.\d+)?", text[start + len(after) :])
    assert match, after
    return match.group(0)


def _as_quoted(value: float, token: str) -> str:
    """``value`` written with as many decimals as ``token`` has (significant digits for 'g' forms)."""
    token = token.replace("−", "-").replace(",", "")
    decimals = len(token.split(".")[1]) if "." in token else 0
    if abs(value) < 0.1 and decimals:  # 0.019, 0.076: the outputs print these to 2 significant digits
        return f"{float(f'{value:.2g}'):.{decimals}f}"
    return f"{value:.{decimals}f}"


def assert_number_matches(token: str, shown: float) -> None:
    assert _as_quoted(shown, token) == token.replace("−", "-").replace(",", ""), (
        f"the prose quotes {token}, the output shows {shown}"
    )


def assert_range_covers(quoted: tuple[str, str], shown: list[float]) -> None:
    lo, hi = quoted
    ok = _as_quoted(min(shown), lo) == lo.replace("−", "-") and _as_quoted(max(shown), hi) == hi.replace(
        "−", "-"
    )
    assert ok, f"the prose quotes {lo}–{hi}, the output shows {min(shown)}–{max(shown)}"


quoted_range, quoted_number = _raw_range, _raw_number

L6 = Notebook("notebooks/06_prenorm_vs_postnorm.ipynb")
L6B = Notebook("notebooks/06b_postnorm_in_training.ipynb")
L7 = Notebook("notebooks/07_skip_is_not_residual.ipynb")
L7B = Notebook("notebooks/07b_preactivation.ipynb")

# decimals in the prose that are not this notebook's measurements: the papers' figures, the lemma's
# bounds, learning rates and other settings, and closed-form values (0.5^32, 1 - sigmoid(-1), ...)
NOT_MEASURED = {
    "06": {0.5, 1.5, 0.01, 1.0, 2.30, 8.45, 0.71},
    "06b": {0.003, 1.0, 2.30, 27.80, 27.27},
    "07": {0.5, 0.05, 6.61, 12.35, 12.22, 8.70, 0.73, 0.27, 0.997, 1.0},
    "07b": {6.61, 8.17, 6.37, 0.22},
}


def _all_printed(lesson: Notebook) -> list[float]:
    from prose import _printed

    return [v for cell in lesson.cells if cell["cell_type"] == "code" for v in numbers(_printed(cell))]


def _decimals(text: str) -> list[str]:
    text = re.sub(r"\$[^$]*\$", " ", text)  # formulas: closed forms, not measurements
    return re.findall(r"(?<![\w.])\d+\.\d+", text)


def _shown(token: str, printed: list[float]) -> bool:
    return any(_as_quoted(shown, token) == token for shown in printed)


@pytest.mark.parametrize("lesson, key", [(L6, "06"), (L6B, "06b"), (L7, "07"), (L7B, "07b")])
def test_every_measured_number_in_the_prose_is_printed(lesson, key):
    printed = _all_printed(lesson)
    prose = "".join("".join(c["source"]) for c in lesson.cells if c["cell_type"] == "markdown")
    missing = sorted(
        {t for t in _decimals(prose) if float(t) not in NOT_MEASURED[key] and not _shown(t, printed)}
    )
    assert not missing, f"{lesson.path.name}: the prose quotes {missing}, which no stored output shows"


def _line(lesson: Notebook, cell_with: str, start: str) -> list[float]:
    lines = [ln for ln in lesson.output_with(cell_with).splitlines() if ln.strip().startswith(start)]
    assert len(lines) == 1, (start, lines)
    return numbers(lines[0])


# lesson 6


def test_l6_stream_growth_per_layer():
    text = L6.markdown_with("Pre-norm's stream grows in a straight line")
    out = L6.output_with("pre-norm grows").split("PyTorch default:")
    assert_range_covers(quoted_range(text, after="straight line,"), numbers(out[0].split("grows")[-1])[:2])
    assert_range_covers(
        quoted_range(text, after="branches add less,"), numbers(out[1].split("grows")[-1])[:2]
    )
    assert_number_matches(quoted_number(text, after="1.5), to "), numbers(out[0].split("pre-norm")[1])[3])


def test_l6_theorem1_flat_post_and_shrinking_pre():
    text = L6.markdown_with("The measurement follows the theorem's scaling")
    rows = {d: _line(L6, "pre / pre at L=6", f"{d} ") for d in (6, 12, 24)}
    quoted = re.findall(r"\d+\.\d+", text.split("flat (")[1])[:3]
    for token, depth in zip(quoted, (6, 12, 24), strict=True):
        assert_number_matches(token, rows[depth][1])  # post-norm's mean
    assert_number_matches(quoted_number(text, "falls to "), rows[12][-2])
    assert_number_matches(quoted_number(text, "falls to 0.68 and "), rows[24][-2])


def test_l6_gradient_profile_means_and_single_seeds():
    text = L6.markdown_with("What eight seeds support")
    line = {
        (act, init, norm): _line(L6, "(single seeds", f"{act} {init:7} init, {norm:4}-norm")
        for act in ("RELU", "GELU")
        for init in ("xavier", "default")
        for norm in ("post", "pre ")
    }
    pre = [v for (a, i, n), nums in line.items() if n == "pre " for v in nums[-2:]]
    assert_range_covers(quoted_range(text, after="at every seed ("), pre)
    assert_number_matches(
        quoted_number(text, after="rises with Xavier init ("), line["RELU", "xavier", "post"][0]
    )
    assert_number_matches(quoted_number(text, after="with ReLU, "), line["GELU", "xavier", "post"][0])
    xavier = [v for a in ("RELU", "GELU") for v in line[a, "xavier", "post"][1:]]
    default = [v for a in ("RELU", "GELU") for v in line[a, "default", "post"][1:]]
    assert_range_covers(quoted_range(text, after="single seeds run from"), xavier)
    assert_range_covers(quoted_range(text, after="with Xavier and"), default)
    table = L6.markdown_with("## 6. What we measured")
    assert_range_covers(quoted_range(table, after="single seeds"), xavier + default)


@pytest.mark.parametrize(
    "cell_with, variant, markdown, after",
    [
        ("below 2 nats", "post ", "Without warm-up post-norm ends at chance", "at every seed ("),
        ("below 2 nats", "post+warmup", "Without warm-up post-norm ends at chance", "learn at every seed ("),
        ("below 2 nats", "pre ", "Without warm-up post-norm ends at chance", "needs no warm-up\n("),
    ],
)
def test_l6_warmup_ranges(cell_with, variant, markdown, after):
    shown = _line(L6, cell_with, variant)[:3]  # drop the 'below 2 nats' tail
    assert_range_covers(quoted_range(L6.markdown_with(markdown), after=after), shown)


# lesson 6b


@pytest.mark.parametrize(
    "variant, after",
    [("SGD lr 1, post ", "at every seed ("), ("SGD lr 1, post+warmup", "slowly: after 150 steps")],
)
def test_l6b_sgd_warmup_ranges(variant, after):
    shown = _line(L6B, "SGD lr 1, post ", variant)[1:]  # drop the rate
    assert_range_covers(quoted_range(L6B.markdown_with("With SGD, post-norm"), after=after), shown)


def test_l6b_depth_sweep():
    text = L6B.markdown_with("At 4 layers post-norm ends lower")
    rows = {d: _line(L6B, "post lower at", f"{d} ") for d in (4, 12)}
    assert numbers(text.split("ends lower (")[1])[:2] == [rows[4][1], rows[4][4]]
    assert f"at {rows[4][7]:.0f} of 3 seeds held-out, at all {rows[4][8]:.0f} in\ntraining" in text
    deep = numbers(text.split("far behind,")[1])[:6]
    assert deep == rows[12][1:7]


# lesson 7


def _span_line(cell_with: str, start: str) -> list[float]:
    return _line(L7, cell_with, start)


def test_l7_training_images():
    assert "1,348 training images" in L7.markdown_with("The digits (scikit-learn's")


def test_l7_gate_ranges():
    text = L7.markdown_with("The gate bias decides how much")
    gated = _span_line("carry at init", "gated -1")
    assert_range_covers(quoted_range(text, after="final losses\nspan"), gated[2:4])
    assert_range_covers(quoted_range(text, after="plain net's"), _span_line("carry at init", "none")[1:3])
    assert_range_covers(quoted_range(text, after="(loss\n"), _span_line("carry at init", "gated -6")[2:4])
    identity = _span_line("carry at init", "identity  ")[1:3]
    runner_up = _span_line("carry at init", "gated -6")[2:4]
    ratio = (runner_up[0] + runner_up[1]) / (identity[0] + identity[1])  # of the ranges' midpoints
    assert 1.3 < ratio < 1.5 and "about 1.4 times below the" in L7.markdown_with(
        "The identity's win is robust"
    )
    assert "identity lowest at every seed: True" in L7.output_with("identity lowest at every seed")


def test_l7_densenet_and_plain_ranges():
    text = L7.markdown_with("What the numbers say")
    loss = {net: _span_line("direct connections", f"{net} ") for net in ("densenet", "residual", "plain")}
    assert_range_covers(quoted_range(text, after="it ends lower, "), loss["densenet"][1:3])
    assert_range_covers(quoted_range(text, after="0.18–0.2 against "), loss["residual"][1:3])
    assert_range_covers(quoted_range(text, after="worse still ("), loss["plain"][1:3])
    merge = _span_line("direct connections", "projected ")
    assert_range_covers(quoted_range(text, after="the merge's "), merge[1:3])


def test_l7b_block_orders():
    text = L7B.markdown_with("What the miniature shows")
    original = _line(L7B, "held-out error (%)", "original")
    after = _line(L7B, "held-out error (%)", "BN after addition")
    pre = _line(L7B, "held-out error (%)", "full pre-activation")
    assert_range_covers(quoted_range(text, after="training loss ("), after[:2])
    assert_range_covers(quoted_range(text, after="held-out\n  error ("), after[-2:])
    assert_range_covers(quoted_range(text, after="every seed here ("), pre[-2:])
    assert_range_covers(quoted_range(text, after="original's"), original[-2:])
    assert_range_covers(quoted_range(text, after="(0.16–0.17 against"), original[:2])
    assert_range_covers(quoted_range(text, after="training loss** ("), pre[:2])
    # "worst at every seed", "lowest held-out error at every seed": the per-seed rankings printed
    rankings = [ln for ln in L7B.output_with("held-out error full").splitlines() if ln.startswith("seed")]
    assert len(rankings) == 3
    for ranking in rankings:
        loss, held_out = ranking.split("; ")
        assert loss.endswith("BN after addition") and held_out.endswith("BN after addition"), ranking
        assert loss.split("training loss ")[1].startswith("original"), ranking
        assert held_out.split("held-out error ")[1].startswith("full pre-activation"), ranking
