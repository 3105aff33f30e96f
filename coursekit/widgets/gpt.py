"""Lesson 8: train the capstone GPT live, tabulate its held-out bits, and sample from its arms.

- :func:`train_your_gpt` runs :func:`coursekit.experiments.gpt.train_gpt_live` with a progress
  bar and a loss curve redrawn as the runs train, printing the samples as they are written;
- :func:`heldout_table` is the result as text, arm by arm over seeds, against the baselines;
- :func:`sample_view` (what pytest calls) and :func:`sample_explorer` (what the slider calls):
  the trained arms continue one prompt side by side, at one temperature.
"""

from __future__ import annotations

from functools import lru_cache

import ipywidgets as widgets
import torch
from IPython.display import display
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from ..experiments.gpt import GPTConfig, GPTProgress, GPTResult, train_gpt_live
from ..experiments.gpt_model import REFERENCE_PARTS, BlockParts, generate
from ..plots import CourseFigure, plot_loss_curves
from ..seeding import single_threaded
from .explorer import Explorer

SMOOTH = 20  # steps averaged in a drawn point of the loss curve
SAMPLE_CHARS = 32  # characters each arm writes in the sampling widget (each costs a forward pass)
REDRAWS = 12  # the live curve is redrawn about this many times a run (a redraw: ~0.6 s on the slow machine)


def _smoothed(values: list[float]) -> list[float]:
    return [sum(values[max(0, i - SMOOTH + 1) : i + 1]) / len(values[max(0, i - SMOOTH + 1) : i + 1])
            for i in range(len(values))]  # fmt: skip


def progress_figure(
    progress: GPTProgress, config: GPTConfig, baselines: tuple[float, float] | None
) -> Figure:
    """Each arm's training bits per character (mean over its seeds so far, smoothed over
    ``SMOOTH`` steps), on axes that span the whole run; the baselines as dotted lines."""
    curves = {}
    for arm in config.arms:
        runs = [progress.curves[(arm.name, s)] for s in config.seeds if progress.curves[(arm.name, s)]]
        if runs:
            n = min(len(r) for r in runs)
            curves[arm.name] = _smoothed([sum(r[i] for r in runs) / len(runs) for i in range(n)])
    figure = plot_loss_curves(curves or {"": [float("nan")]}, title="Training bits per character", log=False)
    ax = figure.axes[0]
    ax.set_xlim(0, config.steps)
    ax.set_ylabel("bits per character (training batch)")
    if baselines is not None:
        for label, bits in zip(("unigram", "bigram"), baselines, strict=True):
            ax.axhline(bits, color="grey", linestyle=":", linewidth=1)
            ax.text(
                config.steps, bits, f" {label} (held-out) {bits:.2f}", va="bottom", ha="right", fontsize=8
            )
    return figure


def train_your_gpt(
    config: GPTConfig = GPTConfig(),  # noqa: B008 - frozen
    parts: BlockParts = REFERENCE_PARTS,
    baselines: tuple[float, float] | None = None,
) -> GPTResult:
    """Train every arm from every seed with a progress bar and a live loss curve (redrawn
    ``REDRAWS`` times: each redraw takes a core from the training), printing each sample as it is
    written; return the :class:`GPTResult`."""
    live = train_gpt_live(config, parts)
    total = len(config.arms) * len(config.seeds) * config.steps
    bar = tqdm(total=total, desc="training", unit="step")
    handle, shown, drawn = None, set(), -total  # drawn: steps done at the last redraw
    while True:
        try:
            progress = next(live)
        except StopIteration as finished:
            bar.close()
            return finished.value
        bar.update(progress.steps_done - bar.n)
        for arm, step, text in progress.samples:
            if (arm, step) not in shown:
                print(f"--- {arm}, step {step}:\n{text}")
                shown.add((arm, step))
        done = progress.steps_done
        if done == drawn or done < min(drawn + total // REDRAWS, total):
            continue
        drawn = done
        figure = progress_figure(progress, config, baselines)
        if handle is None:
            handle = display(figure, display_id=True)
        else:
            handle.update(figure)


def spread(values: list[float]) -> str:
    """``low-high`` (or one number) to two decimals: how the course quotes a result over seeds."""
    low, high = f"{min(values):.2f}", f"{max(values):.2f}"
    return low if low == high else f"{low}-{high}"


def heldout_table(result: GPTResult) -> str:
    """Held-out bits per character by arm, over the seeds, with the two baselines."""
    seeds = ", ".join(map(str, result.config.seeds))
    lines = [f"held-out bits per character, seeds {seeds} (lower is better)"]
    for arm in result.config.arms:
        bits = result.heldout(arm.name)
        lines.append(f"  {arm.name:22} {spread(bits):>10}   ({', '.join(f'{b:.2f}' for b in bits)})")
    lines.append(f"  {'bigram baseline':22} {result.bigram_bits:>10.2f}")
    lines.append(f"  {'unigram baseline':22} {result.unigram_bits:>10.2f}")
    return "\n".join(lines)


def _written_in_training(result: GPTResult, arm: str, prompt: str, temperature: float) -> str | None:
    """The first ``SAMPLE_CHARS`` characters the arm's first-seed model wrote after ``prompt`` at
    its last training step, if it wrote them with this prompt and temperature (the same model,
    prompt, temperature and random stream as :func:`_samples`: the same text), else None."""
    config = result.config
    if (prompt, temperature) != (config.sample_prompt, config.sample_temperature):
        return None
    if SAMPLE_CHARS > config.sample_length:
        return None
    for step, text in result.run(arm).samples:
        if step == config.steps:
            return text[len(prompt) : len(prompt) + SAMPLE_CHARS]
    return None


@lru_cache(maxsize=64)
@single_threaded
def _samples(result: GPTResult, prompt: str, temperature: float) -> tuple[tuple[str, str], ...]:
    """``(arm, text)`` per arm: the first seed's model continuing ``prompt`` (cached per result;
    the default view reuses what training wrote, so the widget's first draw generates nothing)."""
    ids = result.text.encode(prompt)
    out = []
    for arm in result.config.arms:
        written = _written_in_training(result, arm.name, prompt, temperature)
        if written is None:
            model = result.run(arm.name).model
            with torch.inference_mode():
                ids_out = generate(model, ids, SAMPLE_CHARS, temperature, torch.Generator().manual_seed(0))
            written = result.text.decode(ids_out[len(ids) :])
        out.append((arm.name, written))
    return tuple(out)


def sample_view(result: GPTResult, prompt: str = "The ", temperature: float = 0.8) -> tuple[str, Figure]:
    """Every arm (first seed) continues ``prompt`` by ``SAMPLE_CHARS`` characters at
    ``temperature`` (0: always the likeliest character); the same random stream for each arm.
    Characters outside the text's vocabulary are dropped from the prompt."""
    kept = "".join(c for c in prompt if c in result.text.vocab) or "\n"
    samples = _samples(result, kept, round(float(temperature), 2))
    figure = CourseFigure(figsize=(8, 0.2 + 0.6 * len(samples)))  # shows itself as a PNG in a widget
    for k, (arm, text) in enumerate(samples):
        top = 1 - k / len(samples) - 0.04
        bits = result.run(arm).heldout_bits
        figure.text(0.01, top, f"{arm} ({bits:.2f} bits/char held out)", va="top", weight="bold", fontsize=9)
        body = repr(kept + text)[1:-1]  # newlines shown as \n
        figure.text(0.01, top - 0.4 / len(samples), body, va="top", family="monospace", fontsize=9)
    seed = result.config.seeds[0]
    summary = (
        f"prompt {kept!r}, temperature {temperature:.1f}, {SAMPLE_CHARS} characters per arm (seed {seed})"
    )
    return summary, figure


def sample_explorer(result: GPTResult) -> Explorer:
    """A prompt and a temperature; every trained arm writes a continuation, side by side."""
    return Explorer(
        lambda prompt, temperature: sample_view(result, prompt, temperature),
        prompt=widgets.Text(value="The ", description="prompt", continuous_update=False),
        temperature=widgets.FloatSlider(
            value=0.8, min=0.0, max=1.5, step=0.1, description="temperature", continuous_update=False
        ),
    )


def _against_baselines(bits: list[float], unigram: float, bigram: float) -> str:
    """Where an arm's held-out bits sit against the two baselines, seed by seed ("at the unigram
    baseline": within 0.05 bits of it or above)."""
    if max(bits) < bigram:
        return f"below the bigram baseline on every seed, by {spread([bigram - b for b in bits])} bits"
    at_unigram = [b > unigram - 0.05 for b in bits]
    if all(at_unigram):
        return "no better than the unigram baseline on any seed: character frequencies at most"
    counts = (
        ("below the bigram baseline", sum(b < bigram for b in bits)),
        ("between the unigram and bigram baselines", sum(bigram <= b <= unigram - 0.05 for b in bits)),
        ("at the unigram baseline", sum(at_unigram)),
    )
    return ", ".join(f"{where} on {k} of {len(bits)} seeds" for where, k in counts if k)


def gpt_findings(result: GPTResult) -> str:
    """One line per arm: its held-out bits over seeds and where they sit against the baselines;
    then, per seed, how far each arm ended from the first arm."""
    uni, bi = result.unigram_bits, result.bigram_bits
    lines = [f"baselines: unigram {uni:.2f}, bigram {bi:.2f} bits per character"]
    for arm in result.config.arms:
        bits = result.heldout(arm.name)
        lines.append(f"{arm.name}: {spread(bits)} bits, {_against_baselines(bits, uni, bi)}")
    first = result.config.arms[0].name
    ref = result.heldout(first)
    for arm in result.config.arms[1:]:
        gaps = [b - r for b, r in zip(result.heldout(arm.name), ref, strict=True)]
        lines.append(f"{arm.name} minus {first}, seed by seed: {', '.join(f'{g:+.2f}' for g in gaps)} bits")
    return "\n".join(lines)
