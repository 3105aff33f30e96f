"""Start here and lessons 1-3: every number the prose quotes about a measurement, held to the
stored output it describes (issue 17, item 5). Re-executing a lesson that moves a quoted number,
or editing the prose to quote one no output shows, fails here."""

from __future__ import annotations

import math
import re

import pytest
from prose import (
    Notebook,
    assert_number_matches,
    assert_range_covers,
    assert_within,
    numbers,
    quoted_range,
)

START = Notebook("notebooks/00_start_here.ipynb")
L1 = Notebook("notebooks/01_residual_connections.ipynb")
L2 = Notebook("notebooks/02_layer_normalisation.ipynb")
L3 = Notebook("notebooks/03_mlp_block.ipynb")


def _ratios(line: str) -> dict[str, float]:
    """``{"plain": r, "residual": r}`` from a line ``... plain: first/last = r | residual: ...``."""
    return {
        kind: float(value) for kind, value in re.findall(r"(plain|residual): first/last = ([\d.e+-]+)", line)
    }


def _widget_summary(notebook: Notebook, call: str) -> str:
    """The summary line stored with the picture of the explorer made by ``call``."""
    cells = [c for c in notebook.cells if c["cell_type"] == "code" and call in "".join(c["source"])]
    assert len(cells) == 1, call
    return "".join(cells[0]["outputs"][0]["data"]["text/plain"]).splitlines()[0]


# -- start here -----------------------------------------------------------------------------


def test_start_here_quotes_the_depth_52_ratios():
    text = START.markdown_with("Look at depth 52")
    at = {int(numbers(line)[0]): _ratios(line) for line in START.output_with("depth 52 |").splitlines()}
    assert_number_matches(12000, at[52]["plain"], rel=0.1)
    assert "stays in single digits" in text
    assert all(r["residual"] < 10 for r in at.values())


def test_start_here_says_what_its_widget_shows_by_default():
    text = START.markdown_with("The slider starts at 32 blocks")
    shown = _ratios(_widget_summary(START, "gradient_flow_explorer("))
    assert "gradient_flow_explorer(depth=32)" in "".join(
        "".join(c["source"]) for c in START.cells if c["cell_type"] == "code"
    )
    assert shown["plain"] > 10 * shown["residual"]  # "where the two stacks already differ a lot"
    at8 = _ratios(START.output_line("depth 8 |", cell_with="depth 52 |"))
    assert "try 8: there the" in text and at8["residual"] > at8["plain"]  # "even a little larger"


def test_start_here_tells_where_the_progress_file_is_and_what_the_doctor_cell_prints():
    assert "my-work/.coursekit-progress.json" in START.markdown_with("survives a kernel restart")
    assert "in the course folder" not in START.markdown_with("survives a kernel restart")
    assert "answers in one line" in START.markdown_with("Is your environment ready?")
    assert len(START.output_with("All set").strip().splitlines()) == 1


# -- lesson 1 ---------------------------------------------------------------------------------


def test_lesson1_zero_and_small_branches():
    out = L1.output_with("50 zero-branch residual blocks")
    small = numbers(out.splitlines()[1])  # last layer x 0.001
    assert small[1] < 1e-3 and all(numbers(line)[-1] == 1 for line in out.splitlines()[:3])
    assert "True" in out.splitlines()[3]


def test_lesson1_a_batchnorm_branch_starts_at_its_input_scale():
    text = L1.markdown_with("does **not** start near the identity")
    one = L1.output_line("gamma starts at 1", cell_with="gamma starts at 0")
    zero = L1.output_line("gamma starts at 0", cell_with="gamma starts at 0")
    first, whole = quoted_range(one, after="|x0| ="), quoted_range(one.split("all 16")[1], after="|x0| =")
    assert_within((0.8, 1.25), first)  # "about as large as its input"
    assert "about ten times farther" in text and all(7 < v < 14 for v in whole)
    assert numbers(zero.split(":", 1)[1]) == [0, 16, 0]  # exactly 0, first block and all 16


def test_lesson1_jacobian_singular_values():
    text = L1.markdown_with("nearly kills some")
    plain = L1.output_line("plain", cell_with="largest singular value")
    residual = L1.output_line("residual", cell_with="largest singular value")
    assert_within((0.45, 0.55), quoted_range(plain, after="largest singular value"))
    assert "between about 0.7 and 1.4" in text
    assert numbers(residual) == [1.4, 0.7]


def test_lesson1_default_init_gradient_vanishes_by_four_per_block():
    assert "about a factor\nof 4 per block" in L1.markdown_with("## 3. The initialisation decides")
    row = L1.output_line("default", cell_with="gradient factor per block")
    factor = quoted_range(row, after="×")
    assert_within((0.2, 0.3), factor)  # about 1/4
    plain32 = L1.output_line("32", cell_with="plain (no skips)")
    lo, hi, *residual = numbers(plain32)[1:]
    assert -21.5 < math.log10(lo) <= math.log10(hi) < -19.5  # "of order 1e-20"
    assert_within((1.0, 3.0), residual)  # "of order 1 ... grows a little"; table: "about 2"


def test_lesson1_xavier_and_he_factors():
    text = L1.markdown_with("Single seeds still drift")
    xavier = quoted_range(L1.output_line("xavier", cell_with="gradient factor per block"), after="×")
    assert "about 0.57 per block" in text and _covers_value(xavier, 0.57)
    he = L1.output_line("he", cell_with="gradient factor per block")
    assert_within((0.9, 1.1), quoted_range(he, after="×"))
    final = quoted_range(he, after="he")
    assert final[1] / final[0] > 3  # "differs several-fold between seeds"
    table = L1.markdown_with("## What we measured")
    assert "about 1/4 (default), 0.57 (Xavier), 1 (He)" in table


def _covers_value(span: tuple[float, float], value: float) -> bool:
    return span[0] - 0.005 <= value <= span[1] + 0.005


def test_lesson1_batchnorm_explosion_and_one_step():
    text = L1.markdown_with("What these numbers say")
    assert "about 1.2 per block" in text and "about $10^4$" in text
    plain = L1.output_line("52  plain", cell_with="growth per block at step 0")
    values = numbers(plain)
    step0, step1, step10, growth = values[1:3], values[3:5], values[5:7], values[7:9]
    assert all(0.8e4 <= v < 2e4 for v in step0)
    assert all(10 <= v < 100 for v in step1)  # "a few tens"
    assert all(1 <= v < 100 for v in step10)  # "single or double digits"
    assert_within((1.15, 1.25), growth)
    for depth in (16, 32, 52):
        residual = numbers(L1.output_line(f"{depth}  residual", cell_with="growth per block"))[1:7]
        assert all(v < 10 for v in residual)  # "single digits at every depth and step"


def test_lesson1_shattered_gradients():
    text = L1.markdown_with("## 5. Shattered gradients")
    assert "0.06" in text and "1/\\sqrt{256}" in text
    assert "0 ± 0.06" in L1.output_with("white noise")
    plain = L1.output_line("plain", cell_with="lag-1 autocorrelation of df/dx")
    residual = L1.output_line("residual", cell_with="lag-1 autocorrelation of df/dx")
    p = numbers(plain)  # 0.99 | lo hi | lo hi | lo hi
    r = numbers(residual)
    what = L1.markdown_with("from 24 blocks on")
    assert_number_matches(quoted_number_after(what, "smooth ("), p[0])
    assert_range_covers(quoted_range(what, after="about a half"), p[1:3])
    assert all(abs(v) <= 0.13 + 1e-9 for v in p[3:7])  # "within about ±0.13 of 0"
    assert_number_matches(quoted_number_after(what, "still"), min(r[5:7]))
    assert min(r[1:7]) > 0.7 and max(p[3:7]) < 0.2


def quoted_number_after(text: str, phrase: str) -> float:
    return numbers(text[text.index(phrase) + len(phrase) :])[0]


def test_lesson1_stream_growth():
    assert "within a factor of two" in L1.markdown_with("The prediction is right")
    identity = L1.output_line("identity", cell_with="stream RMS after 50 blocks")
    measured, predicted = (
        quoted_range(identity, after="50 blocks:"),
        numbers(identity.split("predicts")[1])[0],
    )
    assert all(predicted / 2 <= v <= predicted * 2 for v in measured)
    table = L1.markdown_with("## What we measured")
    assert "RMS about $2\\times10^7$–$3\\times10^7$" in table
    assert_within((1.5e7, 3.5e7), measured)
    assert numbers(L1.output_line("1/sqrt(L)", cell_with="stream RMS after 50 blocks"))[3] == 1.6
    assert numbers(L1.output_line("rezero", cell_with="stream RMS after 50 blocks"))[1] == 1


# -- lesson 2 ---------------------------------------------------------------------------------


def test_lesson2_batch_dependence_and_modes():
    text = L2.markdown_with("about a fifth of it at batch 128")
    batchnorm = numbers(L2.output_with("batch size").splitlines()[1])  # the BatchNorm row
    assert 1.0 <= batchnorm[0] < 1.5 and 0.15 < batchnorm[-1] < 0.25  # as large as the output; a fifth
    assert all(v == 0 for v in numbers(L2.output_with("batch size").splitlines()[2]))  # LayerNorm
    gap = numbers(L2.output_with("batch size").splitlines()[4])[0]  # BatchNorm, train against eval
    assert "by about 2" in text and 1.5 < gap < 2.5
    table = L2.markdown_with("## What we measured")
    assert "1.3 (batch 2) to 0.2 (batch 128)" in table
    assert_number_matches(1.3, batchnorm[0]) and assert_number_matches(0.2, batchnorm[-1])


def test_lesson2_scale_invariance():
    text = L2.markdown_with("a hundredfold")
    rows = {numbers(line)[0]: numbers(line) for line in L2.output_with("SGD relative step").splitlines()[1:]}
    assert set(rows) == {0.1, 1, 10, 100}
    for c in (10, 100):
        change, grad_lo, grad_hi = rows[c][1:4]
        assert change < 1e-4 and grad_lo == grad_hi == 1 / c  # printed to four decimals
    assert "less than $10^{-4}$" in text and "below $10^{-2}$" in text and 1e-4 < rows[0.1][1] < 1e-2
    step1, step10 = rows[1][-1], rows[10][-1]
    assert "a hundredfold" in text and math.isclose(step1 / step10, 100, rel_tol=0.05)


def test_lesson2_rms_norm_and_the_classic_bug():
    assert_number_matches(2.87, numbers(L2.output_with("on rows of mean 2").split("mean 2:")[1])[0])
    text = L2.markdown_with("For inputs of unit scale only")
    row = {
        tuple(numbers(line)[:2]): numbers(line)[2:]
        for line in L2.output_with("input std   unbiased std").splitlines()[1:-1]
    }
    assert "0.78 %" in text and row[(64, 1)][0] == 0.78
    assert "5 % at a standard deviation of 0.01" in text and row[(64, 0.01)][1] == 5
    assert "over 200 % at 0.001" in text and row[(64, 0.001)][1] > 200
    assert "13 % at $d = 4$" in L2.markdown_with("## What we measured") and row[(4, 1)][0] == 13


# -- lesson 3 ---------------------------------------------------------------------------------


def _decoder_rows() -> dict[str, list[float]]:
    out = L3.output_with("final loss")
    return {
        name: numbers(out.splitlines()[i].split(name, 1)[1])
        for i, name in ((1, "attention + MLP"), (2, "attention only"), (3, "MLP only"))
    }


def test_lesson3_what_removing_each_sublayer_does():
    rows = _decoder_rows()
    floor = numbers(L3.output_with("best possible without attention").split("=")[-1])[0]
    goal = L3.markdown_with("**Goal.**")
    assert (
        "removing attention" in goal
        and "unlearnable" in goal
        and "removing the MLP leaves it learnable" in goal
    )
    assert all(abs(v - floor) < 0.05 for v in rows["MLP only"][:2])  # at the floor: not learnable
    assert max(rows["attention only"][:2]) < 0.3 < min(rows["MLP only"][:2])  # learnable
    assert min(rows["attention only"][:2]) > max(rows["attention + MLP"][:2])  # to a higher loss


def test_lesson3_what_we_measured_quotes_the_decoder():
    rows = _decoder_rows()
    text = L3.markdown_with("## What we measured")
    assert_range_covers(quoted_range(text, after="the loss stops at"), rows["MLP only"][:2])
    assert_range_covers(quoted_range(text, after="MLP it ends at"), rows["attention only"][:2])
    assert "(0.0" not in text.split("every seed")[1][:20]  # its final loss is not quoted: it moves run to run
    assert_range_covers(quoted_range(text, after="reaches 0.3 in"), rows["attention + MLP"][3:5])
    assert_range_covers(quoted_range(text, after="steps against"), rows["attention only"][3:5])


def test_lesson3_rank_collapse():
    out = L3.output_with("distance from rank one (lowest-highest")
    row = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    depth = lambda name, i: numbers(" ".join(row[name]).split("/")[i])  # noqa: E731
    text = L3.markdown_with("What the numbers say")
    assert "about\n  $10^{-4}$" in text and all(1e-4 <= v < 1e-3 for v in depth("attention", 1))
    assert_range_covers(quoted_range(text, after="more* (0.2 against"), depth("attention", 0))
    assert_number_matches(0.2, max(depth("attention+MLP", 0)))
    assert_range_covers(quoted_range(text, after="changes little ("), depth("attention+MLP+skip", 3))
    assert_range_covers(
        quoted_range(text.split("changes little (")[1], after="against"), depth("attention+skip", 3)
    )
    table = L3.markdown_with("## What we measured")
    assert_within((0.6, 0.7), depth("attention+skip", 3))
    assert "keeps 0.6–0.7 after 24 layers" in table


def test_lesson3_per_position_and_parameter_share():
    out = L3.output_with("permuted input")
    assert "the largest move at any other position 0.00" in out.splitlines()[0]
    assert "0.00 elsewhere" in L3.markdown_with("## What we measured")
    shares = [numbers(line.split("share")[1])[0] for line in L3.output_with("MLP share").splitlines()[:2]]
    assert shares == [0.662, 0.666]


@pytest.mark.parametrize("lesson", [L1, L2, L3])
def test_each_lesson_ends_with_questions_and_links_to_its_exercise_in_my_work(lesson):
    sources = ["".join(c["source"]) for c in lesson.cells]
    checks = [s for s in sources if "check_answer(" in s]
    assert 1 <= len(checks) <= 2
    assert all("raise NotImplementedError()" in s for s in checks)  # the learner answers; the hash grades
    assert "../exercises/" not in "".join(sources)
    assert re.search(r"\]\(\.\./my-work/exercise_0\d_\w+\.ipynb\)", sources[-1])
