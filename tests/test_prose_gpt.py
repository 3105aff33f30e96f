"""Lesson 8's prose held to the numbers its cells printed (tests/prose.py)."""

from prose import Notebook, numbers

LESSON = Notebook("notebooks/08_your_own_gpt.ipynb")
FINDINGS = "baselines: unigram"


def held_out(arm: str) -> list[float]:
    """The arm's held-out bits per seed, from the table's parenthesis."""
    line = LESSON.output_line(f"{arm}   ", cell_with="held-out bits per character, seeds")
    return numbers(line.split("(")[1])


def baseline(name: str) -> float:
    return numbers(LESSON.output_line(f"{name} baseline", cell_with="held-out bits per character, seeds"))[0]


def test_with_skips_the_model_ends_below_the_bigram_baseline_on_every_seed():
    assert "ends below the bigram baseline\non every seed" in LESSON.markdown_with("Read the lines above")
    assert "below the bigram baseline on every seed" in LESSON.output_line("pre-norm:", cell_with=FINDINGS)
    assert max(held_out("pre-norm")) < baseline("bigram") - 0.2  # clearly below


def test_without_skips_and_post_norm_without_warm_up_end_at_the_unigram_baseline():
    prose = LESSON.markdown_with("Read the lines above")
    assert "end at the unigram\nbaseline" in prose and "within 0.1 bits of the unigram baseline" in prose
    unigram = baseline("unigram")
    assert all(abs(b - unigram) < 0.1 for b in held_out("pre-norm, no skips") + held_out("post-norm"))


def test_the_warm_up_twin_trains_on_every_seed_and_pre_norm_needs_none():
    prose = LESSON.markdown_with("Read the lines above").replace("\n", " ")
    assert "trains on every seed (0.9 bits or more below the unigram baseline; below the bigram" in prose
    assert "baseline on two seeds of three)" in prose
    post, warm = held_out("post-norm"), held_out("post-norm + warm-up")
    assert all(p - w > 0.5 for p, w in zip(post, warm, strict=True))
    assert all(w < baseline("unigram") - 0.9 for w in warm)  # "0.9 bits or more"
    assert sum(w < baseline("bigram") for w in warm) == 2
    assert max(held_out("pre-norm")) < baseline("bigram")


def test_the_samples_were_printed_once_each_as_training_went():
    printed = LESSON.output_with("--- pre-norm, step 80:")
    arms = ("pre-norm", "pre-norm, no skips", "post-norm", "post-norm + warm-up")
    for header in (f"--- {arm}, step {step}:\n" for arm in arms for step in (80, 160, 240)):
        assert printed.count(header) == 1, header
