"""Lessons 4 and 5: every number (and every "more", "below", "at every seed") their prose says about
a measurement, held to the stored output it describes (issue 17, item 5).

The sentences are found by their words, so a cell moved or added breaks nothing; a re-execution
that moves a number past what the prose says, or an edit of the prose, fails here.
"""

from __future__ import annotations

import re

import pytest
from prose import Notebook, numbers, quoted_number

L4 = Notebook("notebooks/04_transformer_block.ipynb")
L5 = Notebook("notebooks/05_skip_vs_noskip.ipynb")


def _steps(text: str) -> tuple[float, float]:
    """``128–149`` or ``72`` (one seed value) as (low, high); ``> 200`` as infinity."""
    if text.strip().startswith(">"):
        return (float("inf"), float("inf"))
    found = numbers(text)
    return (found[0], found[1] if len(found) > 1 and "–" in text else found[0])


# ---- lesson 4 ------------------------------------------------------------------------------


def test_l4_our_block_equals_torchs_below_1e_5():
    assert "below $10^{-5}$" in L4.markdown_with("float32 rounding (below")
    shown = L4.output_with("largest difference from torch")
    assert shown.count("< 1e-5") == 4, shown


def test_l4_the_mask_moves_no_earlier_position_and_without_it_every_one():
    assert "(exactly 0)" in L4.markdown_with("positions 0–7 do not move at all")
    masked = L4.output_line("causal=True", cell_with="largest change at positions 0-7")
    unmasked = L4.output_line("causal=False", cell_with="largest change at positions 0-7")
    assert numbers(masked.split("0-7:")[1])[0] == 0
    assert min(numbers(unmasked.split("0-7:")[1])[0], numbers(unmasked.split("8-11:")[1])[0]) > 0


def _summary(start: str) -> str:
    return L4.output_line(start, cell_with="first step, loss ×100")


def test_l4_the_full_block_reaches_the_target_by_the_quoted_step():
    by = quoted_number(L4.markdown_with("reaches the target by step"), after="reaches the target by step")
    low, high = _steps(_summary("residual+norm").split("|")[0].split("residual+norm")[1])
    assert high <= by and "3 of 3" in L4.output_line(
        "no norms", cell_with="reached loss 0.1 at 3 of 3 seeds; slower than residual+norm at 1"
    )


def test_l4_the_residual_claims_hold_at_every_seed():
    says = L4.markdown_with("The residuals are what make it train")
    assert "no seed reaches the target in 200" in says and "reaches the target at no seed in 200" in says
    verdicts = L4.output_with("reached loss 0.1 at 0 of 3 seeds")
    assert re.search(r"no residuals\s+reached loss 0.1 at 0 of 3 seeds", verdicts)
    assert re.search(r"MLP residual only\s+reached loss 0.1 at 0 of 3 seeds", verdicts)
    # "attention residual only trains, a little slower than both"
    assert re.search(
        r"attn residual only\s+reached loss 0.1 at 3 of 3 seeds; slower than residual\+norm at 3 of 3",
        verdicts,
    )
    # "the loss stays far above the full block's"
    full = numbers(_summary("residual+norm").split("|")[1])
    none = numbers(_summary("no residuals").split("|")[1])
    assert min(none) > 10 * max(full)


def test_l4_without_norms_it_is_as_fast_at_4_and_8_blocks_and_its_stream_grows_several_times_more():
    assert "The LayerNorms do not speed this decoder up**, at 4 blocks or at 8" in L4.markdown_with(
        "do not speed"
    )
    for normed_line, plain_line in [
        (_summary("residual+norm"), _summary("no norms")),
    ]:
        normed = _steps(normed_line.split("|")[0].split("residual+norm")[1])
        plain = _steps(plain_line.split("|")[0].split("no norms")[1])
        assert plain[1] <= 1.1 * normed[1], (plain, normed)
    deeper = L4.output_line("8 blocks, Adam", cell_with="8 blocks, Adam")
    with_norms = _steps(deeper.split("with norms")[1].split(",")[0])
    without = _steps(deeper.split("without")[1])
    assert without[1] <= 1.1 * with_norms[1], deeper
    growth = L4.output_line("stream growth over 4 blocks", cell_with="stream growth over 4 blocks")
    normed_growth, plain_growth = (
        numbers(growth.split("with norms")[1].split(",")[0]),
        numbers(growth.split("without")[1]),
    )
    assert min(plain_growth) > 2.5 * max(normed_growth), growth  # "several times more"


def test_l4_adams_step_ignores_the_scale_and_sgds_follows_it():
    assert "×1 against SGD's ×100" in L4.markdown_with("×1 against SGD's ×100")
    line = L4.output_line("first step, loss ×100", cell_with="first step, loss ×100")
    sgd, adam = numbers(line.split("SGD ×")[1])[0], numbers(line.split("Adam ×")[1])[0]
    assert sgd == pytest.approx(100, rel=0.01) and adam == pytest.approx(1, rel=0.01), line


def test_l4_under_sgd_only_the_decoder_without_norms_overflows_at_every_seed():
    says = L4.markdown_with("stability under an optimiser that follows the gradient")
    assert "until it\n  overflows, at every seed" in says and "stays of order 1" in says
    shown = L4.output_with("NaN/Inf at step")  # after the progress bar's text
    plain = re.findall(r"no norms\s+seed \d: [^\n]*", shown)
    normed = re.findall(r"residual\+norm\s+seed \d: [^\n]*", shown)
    assert len(plain) == len(normed) == 3
    assert all("NaN/Inf at step" in ln for ln in plain) and all("finite" in ln for ln in normed)
    largest = [numbers(ln.split("largest")[1])[0] for ln in normed]
    assert max(largest) < 3, largest  # "of order 1"


# ---- lesson 5 ------------------------------------------------------------------------------


def _sweep_row(blocks: int) -> list[str]:
    line = L5.output_line(f"{blocks}  ", cell_with="training error: plain")
    return line.split()


def _span(text: str) -> tuple[float, float]:
    found = numbers(text)
    return found[0], found[-1]


def _errors(blocks: int) -> dict[str, tuple[float, float]]:
    cols = _sweep_row(blocks)  # blocks layers parameters plain residual | plain residual
    return {"plain": _span(cols[3]), "residual": _span(cols[4]), "test plain": _span(cols[6])}


def test_l5_the_plain_training_error_rises_with_depth_as_the_prose_says():
    says = L5.markdown_with("Read the plain column")
    assert "(under 1 % wrong)" in says and "between a third and three quarters of them at 16 blocks" in says
    depths = (4, 8, 12, 16)
    rows = {d: _errors(d) for d in depths}
    assert rows[4]["plain"][1] < 1
    middles = [sum(rows[d]["plain"]) / 2 for d in depths]
    assert middles == sorted(middles), middles  # every 4 blocks more: more wrong (on average)
    assert 100 / 3 <= rows[16]["plain"][0] and rows[16]["plain"][1] <= 75, rows[16]
    # "the residual twins stay below 1 % at every depth and seed"; the test error follows the training error
    assert all(rows[d]["residual"][1] < 1 for d in depths)
    tests = [sum(rows[d]["test plain"]) / 2 for d in depths]
    assert tests == sorted(tests), tests


def _gradient_row(kind: str) -> list[str]:
    return L5.output_line(kind, cell_with="first/last at step 0").split()


def test_l5_the_gradient_at_init_grows_hundreds_of_times_and_the_skips_cut_it_below_10():
    assert "hundreds of times the last block's" in L5.markdown_with("hundreds of times")
    assert "the residual twin's ratio is below 10" in L5.markdown_with("below 10")
    assert "hundreds to one becomes about ten to one" in L5.markdown_with("hundreds to one")
    plain, residual = _span(_gradient_row("plain")[1]), _span(_gradient_row("residual")[1])
    assert 100 <= plain[0] and plain[1] < 1000, plain
    assert 5 <= residual[0] and residual[1] < 10, residual


def test_l5_after_step_0_nothing_vanishes():
    says = L5.markdown_with("moves around 1")
    assert "many orders of magnitude above what vanishing looks like" in says
    row = _gradient_row("plain")
    later, smallest = _span(row[2]), numbers(row[3])[0]
    assert later[0] < 1 < later[1], later  # "moves around 1"
    assert smallest > 1e-6  # lesson 1's vanishing stack passed about 1e-10


def _lesion_line(kind: str) -> str:
    return L5.output_line(f"{kind:9} intact", cell_with="one block deleted:")


def test_l5_one_deleted_block_breaks_the_plain_net_and_costs_the_residual_one_under_a_point():
    says = L5.markdown_with("Deleting any one of the plain net's blocks")
    assert "to 70 % or more (chance is\n90 %)" in says and "less than a point on average" in says
    plain = _lesion_line("plain")
    assert numbers(plain.split("deleted:")[1])[0] >= 70, plain
    residual = _lesion_line("residual")
    rise = numbers(residual.split("mean rise")[1])
    assert max(rise) < 1, residual
    # "only the first block ... costs a few points more"
    intact = _span(residual.split("intact")[1].split("one block")[0])
    first = _span(
        L5.output_line("residual, first block deleted", cell_with="first block deleted").split(":")[1]
    )
    assert first[0] > intact[1], (first, intact)


def test_l5_several_deleted_blocks_raise_the_residual_error_step_by_step_without_a_collapse():
    assert "Deleting 2, then 4 blocks at once raises" in L5.markdown_with("Deleting 2, then 4 blocks")
    line = L5.output_line("residual  several", cell_with="several blocks deleted at once")
    two, four = _span(line.split("2 deleted:")[1].split("4 deleted")[0]), _span(line.split("4 deleted:")[1])
    single = _span(_lesion_line("residual").split("intact")[1].split("one block")[0])
    assert single[1] <= two[1] <= four[1] and four[1] < 50, (single, two, four)
