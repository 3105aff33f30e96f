"""How fast this machine is against the slow reference machine the course's budgets are set on.

The course's experiments are made of small ops and Python, and machines differ most in those:
measured the same day, a fast and a slow 2-core machine had the same matmul peak (211-222
GFLOP/s), yet every lesson took 3-4x longer on the slow one. So the budgets are set on the slow
reference machine (an Intel Xeon cloud VM, 2 cores: one tiny PyTorch op in 7 µs, a
20-million-step Python loop in 3.8 s), and on another machine they are scaled by its measured
:attr:`Speed.factor`: a machine 3.7x as fast must run a 60 s lesson in 16 s.

How well the factor predicts the course's own time was checked once, on the commit whose whole
course the reference machine ran in 408 s (1be6744, ``benchmarks/course.py``). The development
AMD EPYC, measured at 3.7x, ran it in 113 s: 3.6x, close. A 2-core Intel Xeon measured at 5.4-5.6x
ran it in 138 s: 2.95x (lessons 04 / 06 / 07 2.75x / 3.3x / 2.95x, solution 05 4.2x). So on such a
machine the factor overstates the speed about 1.8x, and budgets scaled by it are stricter than the
reference's own: a pass there is a pass on the reference; a fail may not be.

One implementation, shared by ``coursekit bench``, ``benchmarks/machine.py``,
``benchmarks/course.py`` and ``benchmarks/widgets.py``.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Clock = Callable[[], float]

# the slow reference machine (module docstring)
REFERENCE_OP_US = 7.0  # a.add_(1) on 4 floats, one PyTorch thread
REFERENCE_LOOP_S = 3.8  # for i in range(20_000_000): x += i
LOOP_STEPS = 20_000_000  # the reference loop's length; it is timed in tenths of it

# the budgets on the reference machine, in seconds (memory in MB is the same on every machine)
BUDGETS_S = {
    "lesson": 60.0,  # every lesson notebook, end to end
    "capstone lesson (08)": 180.0,
    "course": 300.0,  # every lesson and solution notebook together
    "solution 05": 20.0,  # the graded skip experiment
    "widget move": 1.0,  # from a control's move (or the widget's first draw) to its picture
    "cell without a progress bar": 2.0,  # a learner waiting longer than this sees a bar move
    # one experiment's default, and the degradation sweep: the 5 s and 10 s first set on the
    # development machine (3.7x the reference) as reference budgets
    "experiment": 18.5,
    "degradation sweep": 37.0,
}
KERNEL_BUDGET_MB = 1024.0  # a notebook kernel's, or the bench process's, peak memory


@dataclass(frozen=True)
class Speed:
    """This machine's cost of a tiny op and of pure Python, against the reference's."""

    op_us: float  # one a.add_(1) on 4 floats, one PyTorch thread, in µs
    loop_s: float  # for i in range(20_000_000): x += i, in s
    given: bool = False  # made from a factor the user gave (:meth:`of_factor`), not measured

    @classmethod
    def of_factor(cls, factor: float) -> Speed:
        """A speed of exactly ``factor`` (both ratios equal to it), given rather than measured."""
        if not factor > 0 or math.isinf(factor):
            raise ValueError(f"factor must be a positive number, got {factor}")
        return cls(REFERENCE_OP_US / factor, REFERENCE_LOOP_S / factor, given=True)

    @property
    def factor(self) -> float:
        """How many times faster than the reference: the geometric mean of the two ratios (the
        course's time goes to both; neither is the whole story). Above 1 is faster."""
        return math.sqrt((REFERENCE_OP_US / self.op_us) * (REFERENCE_LOOP_S / self.loop_s))

    def budget(self, reference_s: float) -> float:
        """A budget of ``reference_s`` seconds on the reference machine, on this one."""
        return reference_s / self.factor


def op_us(rounds: int = 7, ops: int = 20_000, clock: Clock = time.perf_counter) -> float:
    """Microseconds per ``a.add_(1)`` on 4 floats on one PyTorch thread, best of ``rounds``
    (on ``clock``: wall time, or ``time.process_time`` for this process's CPU time)."""
    import torch

    from ..seeding import torch_threads

    best = math.inf
    with torch_threads(1):
        a = torch.zeros(4)
        for _ in range(ops // 10):  # warm the dispatcher and the caches
            a.add_(1)
        for _ in range(rounds):
            start = clock()
            for _ in range(ops):
                a.add_(1)
            best = min(best, (clock() - start) / ops)
    return best * 1e6


def loop_s(rounds: int = 5, steps: int = LOOP_STEPS // 10, clock: Clock = time.perf_counter) -> float:
    """Seconds for ``for i in range(20_000_000): x += i``: the best of ``rounds`` loops of
    ``steps`` steps, scaled to 20 million (the time is linear in the steps: the same
    two-digit ints past the first 50,000, by then above 2**30)."""
    best = math.inf
    for _ in range(rounds):
        x = 0
        start = clock()
        for i in range(steps):
            x += i
        best = min(best, clock() - start)
    return best * LOOP_STEPS / steps


def measure(clock: Clock = time.perf_counter) -> Speed:
    """This machine's :class:`Speed`: about 0.8 s of measuring where the loop takes 1.1 s, 2.5 s
    on the reference machine."""
    return Speed(op_us(clock=clock), loop_s(clock=clock))


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cores() -> str:
    """The cores this process may use, and the machine's when they differ."""
    total = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    return f"{usable} cores" if usable == total else f"{usable} of {total} cores"


def describe(speed: Speed) -> str:
    """One line: the machine, its speed against the reference, and the factor (and, when other
    work shares the machine, its load: the factor then measures the machine as shared)."""
    if speed.given:
        return f"machine: {cpu_name()}, {cores()}; {speed.factor:.2f}x the reference machine's speed (given)"
    line = (
        f"machine: {cpu_name()}, {cores()}; a tiny op {speed.op_us:.1f} µs (reference "
        f"{REFERENCE_OP_US:g}), the 20M-step Python loop {speed.loop_s:.2f} s (reference "
        f"{REFERENCE_LOOP_S:g}): {speed.factor:.2f}x the reference machine's speed"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5 * (os.cpu_count() or 1):
        line += f" (load average {load:.1f}: measured as shared with other work)"
    return line


def budgets_line(speed: Speed, names: list[str]) -> str:
    """The named budgets as applied here: ``lesson < 16.2 s (60 s on the reference)``, ..."""
    parts = [f"{name} < {speed.budget(BUDGETS_S[name]):.3g} s ({BUDGETS_S[name]:g} s)" for name in names]
    return "budgets here (on the reference): " + ", ".join(parts)
