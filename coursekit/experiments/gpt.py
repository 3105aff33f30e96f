"""The capstone: a small GPT on real text, with and without skips, pre- against post-norm.

Every arm trains the same model (:mod:`.gpt_model`) from the same weights on the same batches
of the bundled text (:mod:`coursekit.text`) and differs from the others in one thing (its
:class:`Arm`). The measure is held-out **bits per character**, next to two baselines that
need no network: the unigram model (character frequencies) and the bigram model (the next
character given this one), both fitted on the training text with add-one smoothing.

Training is plain PyTorch (Adam, one model at a time); the runs are dealt out to two workers
side by side (forked processes on Linux, threads elsewhere), one PyTorch thread each, so a run
gives the same numbers whichever worker it lands on. :func:`train_gpt_live` yields progress as
the runs train (for the lesson's live curve); :func:`run_gpt` returns the finished
:class:`GPTResult`.
"""

from __future__ import annotations

import io
import math
import multiprocessing
import os
import queue
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from ..nn import NORMED_PLACEMENTS
from ..seeding import torch_threads
from ..text import CharText, load_text, text_batch
from ..training.loop import tqdm_bar
from ..validate import require_choice, require_positive_float, require_positive_int
from .gpt_model import GPT, REFERENCE_PARTS, BlockParts, GPTShape, generate

THREADS = 2  # the course's 2-core machine
FORKS = sys.platform == "linux"  # workers are forked processes here, threads on macOS and Windows
LN2 = math.log(2)


@dataclass(frozen=True)
class Arm:
    """One arm of a comparison: what its model and schedule are. Two arms meant to differ in
    one factor should differ in one field (besides ``name``)."""

    name: str
    norm: str = "pre"  # "pre" or "post"
    residual: bool = True  # the skips around both sublayers of every block
    warmup: bool = False  # the learning rate rises linearly over GPTConfig.warmup_steps

    def __post_init__(self) -> None:
        require_choice("norm", self.norm, NORMED_PLACEMENTS)
        for name in ("residual", "warmup"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")


ARMS = (
    Arm("pre-norm"),
    Arm("pre-norm, no skips", residual=False),
    Arm("post-norm", norm="post"),
    Arm("post-norm + warm-up", norm="post", warmup=True),
)


@dataclass(frozen=True)
class GPTConfig:
    """The set-up every arm shares. At the defaults, 4 blocks at a rate of 2e-2: deep and fast
    enough that post-norm needs its warm-up, small enough for a laptop CPU."""

    arms: tuple[Arm, ...] = ARMS
    seeds: tuple[int, ...] = (0, 1, 2)
    depth: int = 4
    d_model: int = 32
    n_heads: int = 4
    seq: int = 24  # characters of context (32 costs a third more a step; docs/science.md has both)
    batch: int = 32  # windows per step
    steps: int = 240  # 300 gave pre-norm 3.13-3.22 bits for a quarter more time (docs/science.md)
    lr: float = 2e-2  # Adam's rate after warm-up; it falls linearly to 0 over the last half
    warmup_steps: int = 50  # arms with warmup=True: linear rise from lr/warmup_steps
    eval_chars: int = 16384  # held-out characters scored (windows of seq spread over the text)
    sample_steps: tuple[int, ...] = (80, 160, 240)  # when the first seed's models write a sample
    sample_prompt: str = "The "
    sample_length: int = 80
    sample_temperature: float = 0.8  # each sample draws from torch.Generator().manual_seed(0)

    def __post_init__(self) -> None:
        if not self.arms or not all(isinstance(a, Arm) for a in self.arms):
            raise TypeError(f"arms must be a non-empty tuple of Arm, got {self.arms!r}")
        if len({a.name for a in self.arms}) != len(self.arms):
            raise ValueError(f"two arms share a name: {[a.name for a in self.arms]}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {self.seeds!r}")
        for name in ("depth", "d_model", "n_heads", "seq", "batch", "steps", "warmup_steps", "eval_chars"):
            require_positive_int(name, getattr(self, name))
        require_positive_float("lr", self.lr)

    def shape(self, arm: Arm, vocab_size: int) -> GPTShape:
        return GPTShape(vocab_size, self.depth, self.d_model, self.n_heads, self.seq, arm.norm, arm.residual)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (it holds a model)
class GPTRun:
    """One arm trained from one seed."""

    arm: str
    seed: int
    heldout_bits: float  # bits per character on the held-out text
    train_bits: tuple[float, ...]  # the training batch's bits per character, step by step
    samples: tuple[tuple[int, str], ...]  # (step, text) written during training (first seed)
    model: GPT = field(repr=False)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (it holds models)
class GPTResult:
    config: GPTConfig
    runs: tuple[GPTRun, ...]
    unigram_bits: float
    bigram_bits: float
    text: CharText = field(repr=False)

    def heldout(self, arm: str) -> list[float]:
        """Held-out bits per character of ``arm``, one per seed in the config's order."""
        found = [r.heldout_bits for r in self.runs if r.arm == arm]
        if not found:
            raise KeyError(f"no arm {arm!r}; the arms are {[a.name for a in self.config.arms]}")
        return found

    def run(self, arm: str, seed: int | None = None) -> GPTRun:
        seed = self.config.seeds[0] if seed is None else seed
        for r in self.runs:
            if r.arm == arm and r.seed == seed:
                return r
        raise KeyError(f"no run of arm {arm!r} with seed {seed}")


def eval_windows(ids: torch.Tensor, seq: int, chars: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``, each ``(windows, seq)``: ``chars // seq`` windows of ``ids`` spread evenly over
    the whole text (all of it, in order, when it is that short) and the same shifted by one."""
    if ids.numel() <= seq:
        raise ValueError(f"the text ({ids.numel()} characters) is too short for windows of {seq}")
    windows = max(1, min(chars, ids.numel() - 1) // seq)
    stride = (ids.numel() - 1 - seq) // max(1, windows - 1) if windows > 1 else 0
    start = torch.arange(windows).unsqueeze(1) * max(seq, stride)  # (windows, 1)
    window = start + torch.arange(seq + 1)  # (windows, seq + 1)
    return ids[window[:, :-1]], ids[window[:, 1:]]


def baseline_bits(
    text: CharText, seq: int = GPTConfig.seq, chars: int = GPTConfig.eval_chars
) -> tuple[float, float]:
    """``(unigram, bigram)`` bits per character on the characters :func:`heldout_bits` scores
    (``eval_windows``), both fitted on the training text with add-one smoothing; the bigram model
    scores each character given the one before it."""
    v = text.vocab_size
    before, target = (t.flatten() for t in eval_windows(text.heldout, seq, chars))  # (windows * seq,)
    unigram = torch.bincount(text.train, minlength=v).double() + 1  # (vocab,)
    unigram_bits = -(unigram / unigram.sum())[target].log2().mean().item()
    counts = torch.ones(v, v, dtype=torch.float64)  # (vocab, vocab): previous -> next
    counts.index_put_((text.train[:-1], text.train[1:]), torch.ones(text.train.numel() - 1).double(), True)
    bigram = counts / counts.sum(1, keepdim=True)
    bigram_bits = -bigram[before, target].log2().mean().item()
    return unigram_bits, bigram_bits


@torch.no_grad()
def heldout_bits(model: GPT, ids: torch.Tensor, seq: int, chars: int) -> float:
    """Bits per character on about ``chars`` characters of ``ids``, in windows of ``seq`` spread
    over the whole text (:func:`eval_windows`; each window starts without context, as the model
    was trained)."""
    x, y = eval_windows(ids, seq, chars)  # (windows, seq)
    return F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() / LN2


def lr_at(step: int, config: GPTConfig, warmup: bool) -> float:
    """The rate of ``step`` (0-based): linear warm-up (warm-up arms), then constant, then a
    linear fall to 0 over the last half of the run."""
    rise = min(1.0, (step + 1) / config.warmup_steps) if warmup else 1.0
    fall = min(1.0, (config.steps - step) / (config.steps / 2))
    return config.lr * rise * fall


@dataclass(frozen=True)
class GPTProgress:
    """What :func:`train_gpt_live` yields: the curves so far and samples written so far."""

    steps_done: int  # over all runs
    steps_total: int
    curves: dict[tuple[str, int], list[float]]  # (arm, seed) -> training bits so far
    samples: list[tuple[str, int, str]]  # (arm, step, text), in the order written


@dataclass
class _Job:
    arm: Arm
    seed: int
    model: GPT
    curve: list[float] = field(default_factory=list)
    samples: list[tuple[int, str]] = field(default_factory=list)
    heldout: float = float("nan")


# what a worker reports: ("step", job, bits), ("sample", job, step, text),
# ("done", job, heldout bits, trained state) or ("error", traceback)
Event = tuple


def _train(
    k: int, job: _Job, config: GPTConfig, text: CharText, put: Callable[[Event], None], stop: threading.Event
) -> None:
    """Train job ``k``'s model in place, reporting each step's training bits, each sample and,
    at the end, the held-out bits and the trained weights through ``put``; give up once ``stop``
    is set (the learner interrupted the cell)."""
    model, g = job.model, torch.Generator().manual_seed(1000 + job.seed)  # batches: the seed's own
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)  # one kernel per step
    prompt = text.encode(config.sample_prompt)
    model.train()
    for step in range(config.steps):
        if stop.is_set():
            return
        for group in optimiser.param_groups:
            group["lr"] = lr_at(step, config, job.arm.warmup)
        x, y = text_batch(text.train, config.batch, config.seq, g)  # (batch, seq) each
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        put(("step", k, loss.item() / LN2))
        if job.seed == config.seeds[0] and step + 1 in config.sample_steps:
            stream = torch.Generator().manual_seed(0)
            ids = generate(model, prompt, config.sample_length, config.sample_temperature, stream)
            put(("sample", k, step + 1, text.decode(ids)))
    model.eval()
    state = io.BytesIO()  # plain bytes: a tensor sent between processes would share its memory
    torch.save(model.state_dict(), state)
    put(("done", k, heldout_bits(model, text.heldout, config.seq, config.eval_chars), state.getvalue()))


def _share(
    k: int,
    jobs: list[_Job],
    config: GPTConfig,
    text: CharText,
    put: Callable[[Event], None],
    stop: threading.Event,
) -> None:
    """Train every ``THREADS``-th job from the ``k``-th, on one PyTorch thread; an error is
    reported as an event, not raised (a worker process has no one to raise it to)."""
    torch.set_num_threads(1)  # OpenMP's count is per thread: a new thread starts at the core count
    try:
        for i in range(k, len(jobs), THREADS):
            _train(i, jobs[i], config, text, put, stop)
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        put(("error", traceback.format_exc()))


def _process_share(k: int, jobs: list[_Job], config: GPTConfig, text: CharText, events: object) -> None:
    """:func:`_share` in a forked worker process, whose output goes nowhere (the parent's
    Jupyter streams do not survive the fork); the parent stops it by ending the process."""
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the process's life
    _share(k, jobs, config, text, events.put, threading.Event())


def _workers(
    jobs: list[_Job], config: GPTConfig, text: CharText, stop: threading.Event
) -> tuple[object, list[object]]:
    """The event queue and the started workers: forked processes where the platform forks
    (Linux: Python's lock on its interpreter lets two threads train only about 1.4x as fast as
    one, two processes 2x), else threads."""
    if FORKS:
        ctx = multiprocessing.get_context("fork")
        events = ctx.Queue()
        workers = [
            ctx.Process(target=_process_share, args=(k, jobs, config, text, events), daemon=True)
            for k in range(THREADS)
        ]
    else:
        events = queue.Queue()
        workers = [
            threading.Thread(target=_share, args=(k, jobs, config, text, events.put, stop), daemon=True)
            for k in range(THREADS)
        ]
    for worker in workers:
        worker.start()
    return events, workers


def train_gpt_live(
    config: GPTConfig = GPTConfig(), parts: BlockParts = REFERENCE_PARTS, every: int = 50
) -> Iterator[GPTProgress]:
    """Train every arm from every seed; yield progress about every ``every`` steps of all runs
    together, and once at the end. The return value (``StopIteration.value``) is the result.
    The runs are dealt out to two workers (:func:`_workers`), each run's numbers the same
    whichever worker trains it."""
    text = load_text()
    jobs = [
        _Job(arm, seed, GPT(config.shape(arm, text.vocab_size), parts, seed))
        for arm in config.arms
        for seed in config.seeds
    ]
    total, done, finished = len(jobs) * config.steps, 0, 0

    def progress() -> GPTProgress:
        samples = [(j.arm.name, step, s) for j in jobs for step, s in list(j.samples)]
        curves = {(j.arm.name, j.seed): list(j.curve) for j in jobs}
        return GPTProgress(done, total, curves, sorted(samples, key=lambda item: item[1]))

    stop = threading.Event()  # threads watch it; processes are ended
    with torch_threads(1):
        events, workers = _workers(jobs, config, text, stop)
        try:
            while finished < len(jobs):
                try:
                    event = events.get(timeout=0.5)
                except queue.Empty:
                    if not any(w.is_alive() for w in workers):
                        raise RuntimeError("the GPT's training workers stopped before the end") from None
                    continue
                if event[0] == "error":
                    raise RuntimeError(f"training a GPT failed:\n{event[1]}")
                job = jobs[event[1]]
                if event[0] == "step":
                    job.curve.append(event[2])
                    done += 1
                    if done % every == 0:
                        yield progress()
                elif event[0] == "sample":
                    job.samples.append((event[2], event[3]))
                else:  # done: the trained weights come home from a worker process
                    job.heldout = event[2]
                    job.model.load_state_dict(torch.load(io.BytesIO(event[3]), weights_only=True))
                    job.model.eval()
                    finished += 1
        finally:
            stop.set()
            for worker in workers:
                if isinstance(worker, multiprocessing.process.BaseProcess) and worker.is_alive():
                    worker.terminate()
    yield progress()
    unigram, bigram = baseline_bits(text, config.seq, config.eval_chars)
    runs = tuple(
        GPTRun(j.arm.name, j.seed, j.heldout, tuple(j.curve), tuple(j.samples), j.model) for j in jobs
    )
    return GPTResult(config, runs, unigram, bigram, text)


def run_gpt(
    config: GPTConfig = GPTConfig(), parts: BlockParts = REFERENCE_PARTS, progress_bar: bool = True
) -> GPTResult:
    """:func:`train_gpt_live` to its end, with a progress bar over all runs' steps (unless
    ``progress_bar`` is False): every arm from every seed, held-out bits and baselines."""
    live = train_gpt_live(config, parts)
    bar = tqdm_bar(len(config.arms) * len(config.seeds) * config.steps, progress_bar, "training")
    while True:
        try:
            bar.update(next(live).steps_done - bar.n)
        except StopIteration as finished:
            bar.close()
            return finished.value
