"""``coursekit bench``: how fast the experiments engine is on this machine, against its budgets.

First this machine's speed against the slow reference machine the budgets are set on
(:mod:`.machine`: a tiny op and a Python loop; ``--factor`` gives it instead). Then, in one run,
on the same number of threads: (a) batched training of 8 variants (in ``--threads`` groups side
by side, one PyTorch thread each, as :func:`~coursekit.train_many` runs them), a plain Python
loop over the same 8 models (on that many PyTorch threads) and the kernel floor, the same
training as PyTorch's kernels alone (:mod:`.kernel_floor`), interleaved, best and median of
``repeats``: the trainer's speed-up over the loop is judged as a share of the floor's (at
least 85 %, on any machine: both are measured side by side); (b) the batched run's matmul
GFLOP/s as a fraction of this machine's own fp32 matmul throughput (shown, not judged);
(c) the time of every experiment's default (every ``run_*`` that :mod:`coursekit.experiments`
exports), against its budget scaled to this machine, and where it goes: two reruns on one
thread, one plain and one profiled, split it into matmul kernels, other ops and time outside
any op, and name the costliest other ops (what to attack next); (d) the process's peak
memory. Prints a table, then one summary line.
On a machine shared with other work the absolute times inflate; the ratios (measured side by
side) hold better, and the best of several repeats is the least disturbed.
"""

from __future__ import annotations

import argparse
import collections
import inspect
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .. import experiments
from ..data import load_digits
from ..engine import threads as engine_threads
from ..engine import train_many
from ..engine.threads import THREADS
from ..experiments.models import BatchNormNet
from ..seeding import seed_everything
from ..training import TrainConfig, train_model
from ..validate import require_positive_int
from . import machine
from .kernel_floor import train_kernels

SWEEP = "degradation"
# the batched trainer's speed-up over the loop, as a share of the kernel floor's (:mod:`.kernel_floor`):
# the same on any machine, as both are measured side by side
OF_FLOOR = 0.85
# the ATen ops that do a model's matrix products
MATMUL_OPS = frozenset({"mm", "bmm", "addmm", "baddbmm", "addbmm", "addmv", "mv", "dot"})


@dataclass(frozen=True)
class BenchConfig:
    """The course's default sizes: the digits net of the degradation sweep."""

    variants: int = 8  # skip on/off x 4 seeds
    depth: int = 20
    width: int = 64
    batch_size: int = 128
    steps: int = 60
    repeats: int = 3  # best of, against noise from other processes

    def __post_init__(self) -> None:
        for name in ("variants", "depth", "width", "batch_size", "steps", "repeats"):
            require_positive_int(name, getattr(self, name))


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter  # what every timing reads; ``--clock cpu`` picks this process's CPU time


def matmul_gflops(n: int = 512, seconds: float = 0.5) -> float:
    """This machine's fp32 matmul throughput in GFLOP/s (best of 5 rounds of ``(n, n) @ (n, n)``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(5):
        count, start = 0, clock()
        while clock() - start < seconds / 5:
            a @ b
            count += 1
        best = max(best, 2 * n**3 * count / (clock() - start) / 1e9)
    return best


def _variants(config: BenchConfig) -> list[BatchNormNet]:
    models = []
    for v in range(config.variants):
        seed_everything(v // 2)
        models.append(BatchNormNet(config.depth, config.width, shortcut="identity" if v % 2 else "none"))
    return models


def training_flops(config: BenchConfig, d_in: int = 64, n_classes: int = 10) -> float:
    """Matmul FLOPs of one training run of every variant: forward, and twice that backward."""
    b, w = config.batch_size, config.width
    forward = 2 * b * (d_in * w + config.depth * w * w + w * n_classes)
    return 3 * forward * config.steps * config.variants


@dataclass(frozen=True)
class Timings:
    """Seconds per repeat, interleaved: ``batched[i]``, ``loop[i]`` and ``kernels[i]`` (the
    kernel floor, :mod:`.kernel_floor`) ran back to back."""

    batched: list[float]
    loop: list[float]
    kernels: list[float]

    @property
    def speedups(self) -> list[float]:
        return [lo / b for b, lo in zip(self.batched, self.loop, strict=True)]

    @property
    def floor_speedups(self) -> list[float]:
        """The kernels' speed-up over the loop: the ceiling of the trainer's without new kernels."""
        return [lo / k for k, lo in zip(self.kernels, self.loop, strict=True)]

    @property
    def of_floor(self) -> list[float]:
        """The trainer's speed-up as a share of the floor's, each repeat (``kernels / batched``)."""
        return [k / b for b, k in zip(self.batched, self.kernels, strict=True)]


def time_training(config: BenchConfig, threads: int) -> Timings:
    """The batched run (``threads`` groups), the loop over the same models (on the caller's
    PyTorch threads) and the kernel floor (``threads`` groups), interleaved, ``repeats`` times,
    after one warm-up of each."""
    task = load_digits()
    train = TrainConfig(steps=config.steps, lr=0.05, batch_size=config.batch_size)
    warm_up = TrainConfig(steps=2, batch_size=config.batch_size)
    train_many(_variants(config), task, warm_up, progress_bar=False, threads=threads)
    train_model(_variants(config)[0], task, warm_up, progress_bar=False)
    train_kernels(_variants(config), task, warm_up, threads)
    batched, loop, kernels = [], [], []
    for _ in range(config.repeats):
        models = _variants(config)
        start = clock()
        train_many(models, task, train, progress_bar=False, threads=threads)
        batched.append(clock() - start)
        models = _variants(config)
        start = clock()
        for model in models:
            train_model(model, task, train, progress_bar=False)
        loop.append(clock() - start)
        models = _variants(config)
        start = clock()
        train_kernels(models, task, train, threads)
        kernels.append(clock() - start)
    return Timings(batched, loop, kernels)


def experiment_defaults() -> dict[str, Callable[[], object]]:
    """Every experiment's default run (every ``run_*`` the experiments export), by name without
    ``run_``, progress bars off. The degradation default is the full sweep."""
    runs = {}
    for name in sorted(experiments.__all__):
        if not name.startswith("run_"):
            continue
        function = getattr(experiments, name)
        quiet = "progress_bar" in inspect.signature(function).parameters
        runs[name.removeprefix("run_")] = (lambda f=function: f(progress_bar=False)) if quiet else function
    return runs


@dataclass(frozen=True)
class Breakdown:
    """Where a run's time goes, from two reruns on one thread (an op timer sees only its own
    thread's ops): a plain one, and one that times every ATen op (on the bench's clock)."""

    seconds: float  # the plain rerun on one thread
    matmul_s: float  # inside matmul ops
    ops_s: float  # inside any op, matmuls included
    top_other: list[tuple[str, float]]  # the costliest other ops, (name, seconds)


class _OpTimer(TorchDispatchMode):
    """Times every ATen op that reaches the dispatcher (forward and backward, inside ``vmap``
    too), by name, keeping only running totals: memory stays flat however long the run
    (``torch.profiler`` keeps every event: 20+ GB for the longest experiments)."""

    def __init__(self) -> None:
        super().__init__()
        self.own: dict[str, float] = collections.defaultdict(float)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        start = clock()
        out = func(*args, **(kwargs or {}))
        self.own[func.overloadpacket.__name__] += clock() - start
        return out


def profile_breakdown(run: Callable[[], object], top: int = 3) -> Breakdown:
    """Rerun ``run`` on one thread, plainly and timing every op; the time outside all ops
    (Python, autograd's engine) is what the plain rerun's time leaves over."""
    before = engine_threads.THREADS
    engine_threads.THREADS = 1  # every train_many of the run on this thread, where the timer sees it
    try:
        start = clock()
        run()
        seconds = clock() - start
        timer = _OpTimer()
        with timer:
            run()
    finally:
        engine_threads.THREADS = before
    matmul = sum(t for k, t in timer.own.items() if k in MATMUL_OPS)
    others = sorted(((k, t) for k, t in timer.own.items() if k not in MATMUL_OPS), key=lambda kv: -kv[1])
    return Breakdown(seconds, matmul, sum(timer.own.values()), others[:top])


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


Row = tuple[str, str, str, bool]  # (what, measured, budget, met); no budget: shown, not judged


def _training_rows(config: BenchConfig, timings: Timings, peak: float, threads: int) -> list[Row]:
    """The trainer's rows: the machine's matmul peak, the loop, the batched run, the kernel
    floor, the speed-ups, the trainer's share of the floor's (judged), and the batched run's
    share of the matmul peak (shown, not judged: a machine whose small ops cost
    more reaches less of its peak with the same code)."""
    label = (
        f"{config.variants} variants, depth {config.depth}, width {config.width}, batch {config.batch_size}"
    )
    spread = lambda xs: f"{min(xs):.2f} s (median {statistics.median(xs):.2f})"  # noqa: E731
    speedup, of_floor = statistics.median(timings.speedups), statistics.median(timings.of_floor)
    fraction = training_flops(config) / min(timings.batched) / 1e9 / peak
    disturbed = " (peak disturbed: rerun)" if fraction > 1 else ""  # measured while something held a core
    return [
        (
            f"fp32 matmul 512x512, {threads} thread(s) (machine peak, best of 2)",
            f"{peak:.1f} GFLOP/s",
            "",
            True,
        ),
        (f"loop over {label}, {config.steps} steps", spread(timings.loop), "", True),
        (
            f"batched {label}, {config.steps} steps ({threads} group(s) x 1 thread)",
            spread(timings.batched),
            "",
            True,
        ),
        (
            f"kernel floor, the same step's kernels alone ({threads} group(s))",
            spread(timings.kernels),
            "",
            True,
        ),
        (
            f"speed-up of batched over loop (median of {config.repeats} repeats)",
            f"{speedup:.2f}x (range {min(timings.speedups):.2f}-{max(timings.speedups):.2f})",
            "",
            True,
        ),
        (
            "speed-up of the kernel floor over loop (the ceiling)",
            f"{statistics.median(timings.floor_speedups):.2f}x",
            "",
            True,
        ),
        (
            "batched speed-up as a share of the floor's",
            f"{of_floor:.0%} (range {min(timings.of_floor):.0%}-{max(timings.of_floor):.0%})",
            f">= {OF_FLOOR:.0%}",
            of_floor >= OF_FLOOR,
        ),
        (f"batched matmul throughput, {threads} thread(s)", f"{fraction:.0%} of peak{disturbed}", "", True),
    ]


def _experiment_rows(args: argparse.Namespace, speed: machine.Speed) -> tuple[list[Row], dict]:
    """Each chosen experiment's default, timed against its budget scaled to this machine, and
    (unless ``--no-breakdown``) where its time goes."""
    chosen = experiment_defaults()
    if args.experiments:
        unknown = set(args.experiments) - set(chosen)
        if unknown:
            raise SystemExit(f"unknown experiments {sorted(unknown)}; known: {sorted(chosen)}")
        chosen = {k: v for k, v in chosen.items() if k in args.experiments}
    rows: list[Row] = []
    breakdowns: dict[str, tuple[float, Breakdown | None]] = {}
    for name, experiment in chosen.items():
        start = clock()
        experiment()
        seconds = clock() - start
        budget = speed.budget(machine.BUDGETS_S["degradation sweep" if name == SWEEP else "experiment"])
        rows.append(
            (f"experiment default: {name}", f"{seconds:.2f} s", f"< {budget:.3g} s", seconds < budget)
        )
        breakdown = None if args.no_breakdown else profile_breakdown(experiment)
        breakdowns[name] = (seconds, breakdown)
        where = "" if breakdown is None else f", {breakdown.matmul_s / breakdown.seconds:.0%} in matmuls"
        print(f"  {name}: {seconds:.2f} s{where}", file=sys.stderr, flush=True)
    return rows, breakdowns


def _print_table(rows: list[Row]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'measured':<40} {'budget':<10} ok")
    for what, measured, budget, met in rows:
        print(f"{what:<{width}}  {measured:<40} {budget:<10} {('yes' if met else 'NO') if budget else ''}")


def _print_breakdowns(breakdowns: dict[str, tuple[float, Breakdown | None]]) -> None:
    if not any(b is not None for _, b in breakdowns.values()):
        return
    print("\nwhere each experiment's time goes, rerun on one thread (an op timer sees one thread):")
    print("matmul ops, other ops, and outside any op (Python, autograd's engine, dispatch), as shares")
    print("of the one-thread time; ops timed one by one in a second rerun")
    print(
        f"{'experiment':<22} {'time':>7} {'1 thread':>9} {'matmul':>7} {'other':>7} {'outside':>8}"
        "  costliest other ops"
    )
    for name, (seconds, b) in breakdowns.items():
        if b is None:
            continue
        matmul, other = b.matmul_s / b.seconds, (b.ops_s - b.matmul_s) / b.seconds
        outside = max(0.0, 1 - matmul - other)
        top = ", ".join(f"{k} {t / b.seconds:.0%}" for k, t in b.top_other)
        shares = f"{matmul:>7.0%} {other:>7.0%} {outside:>8.0%}"
        print(f"{name:<22} {seconds:>6.2f}s {b.seconds:>8.2f}s {shares}  {top}")


def _machine_speed(args: argparse.Namespace) -> machine.Speed:
    """This machine's speed against the reference (measured on the bench's clock), or the one
    ``--factor`` gives."""
    return machine.measure(clock) if args.factor is None else machine.Speed.of_factor(args.factor)


def run(args: argparse.Namespace) -> int:
    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    config = BenchConfig(
        depth=args.depth, width=args.width, batch_size=args.batch_size, steps=args.steps, repeats=args.repeats
    )
    threads = torch.get_num_threads()
    print(f"coursekit bench: torch {torch.__version__}, {threads} thread(s), {args.clock} clock", flush=True)
    speed = _machine_speed(args)
    print(machine.describe(speed), flush=True)
    print(machine.budgets_line(speed, ["experiment", "degradation sweep"]), flush=True)
    before = matmul_gflops()
    timings = time_training(config, threads)
    # another process on a core slows a multi-threaded matmul far more than the small training
    # ops; measuring before and after and keeping the best keeps the peak honest
    peak = max(before, matmul_gflops())
    rows = _training_rows(config, timings, peak, threads)
    breakdowns: dict[str, tuple[float, Breakdown | None]] = {}
    if not args.skip_experiments:
        experiment_rows, breakdowns = _experiment_rows(args, speed)
        rows += experiment_rows
    memory = peak_memory_mb()
    budget_mb = machine.KERNEL_BUDGET_MB
    rows.append(("peak memory (resident)", f"{memory:.0f} MB", f"< {budget_mb:g} MB", memory < budget_mb))
    _print_table(rows)
    _print_breakdowns(breakdowns)
    judged = [r for r in rows if r[2]]
    failed = [r[0] for r in judged if not r[3]]
    speedup, of_floor = statistics.median(timings.speedups), statistics.median(timings.of_floor)
    print(
        f"summary: batched {speedup:.2f}x faster than the loop, {of_floor:.0%} of the kernel floor's "
        f"{statistics.median(timings.floor_speedups):.2f}x ({threads} thread(s), {args.clock} clock), "
        f"peak memory {memory:.0f} MB, on a machine {speed.factor:.2f}x the reference's speed; "
        f"{len(judged) - len(failed)}/{len(judged)} budgets met"
        + (f" (missed: {'; '.join(failed)})" if failed else "")
    )
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {value}")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments to its parser (made by :mod:`coursekit.course.cli`)."""
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=THREADS,
        help=f"threads for the peak, the loop and the batched run's groups (default: {THREADS})",
    )
    parser.add_argument(
        "--steps", type=_positive_int, default=BenchConfig.steps, help="training steps per timing"
    )
    parser.add_argument(
        "--depth", type=_positive_int, default=BenchConfig.depth, help="blocks in each variant"
    )
    parser.add_argument(
        "--width", type=_positive_int, default=BenchConfig.width, help="width of each variant"
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, default=BenchConfig.batch_size, help="examples per step"
    )
    parser.add_argument(
        "--repeats", type=_positive_int, default=BenchConfig.repeats, help="timings to take the best of"
    )
    parser.add_argument("--skip-experiments", action="store_true", help="time the trainer only")
    parser.add_argument(
        "--factor",
        type=_positive_float,
        default=None,
        help="this machine's speed against the reference machine of the budgets (default: measured)",
    )
    parser.add_argument(
        "--experiments",
        nargs="+",
        metavar="NAME",
        default=None,
        help="time only these experiments (names without run_)",
    )
    parser.add_argument(
        "--no-breakdown", action="store_true", help="skip the rerun of each experiment that times every op"
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time (default), or this process's CPU time: on a machine busy with other work, "
        "CPU time at --threads 1 measures this process rather than its neighbours",
    )
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark as a script: ``python benchmarks/bench_training.py [--threads N]``."""
    parser = argparse.ArgumentParser(prog="bench_training", description=__doc__)
    subparsers = parser.add_subparsers(dest="command")
    register(subparsers)
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
