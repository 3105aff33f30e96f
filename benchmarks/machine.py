"""This machine against the slow reference machine of the course's budgets, and the budgets here.

Measures the cost of one tiny PyTorch op (``a.add_(1)`` on 4 floats, one thread) and of pure
Python (``for i in range(20_000_000): x += i``), best of several, against the reference (7 µs,
3.8 s), and prints the factor and every budget scaled by it. ``coursekit bench``,
``benchmarks/course.py`` and ``benchmarks/widgets.py`` print the same line
(:mod:`coursekit.course.machine`).

    .venv/bin/python benchmarks/machine.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the course's own coursekit

from coursekit.course import machine  # noqa: E402


def main() -> int:
    speed = machine.measure()
    print(machine.describe(speed))
    print(machine.budgets_line(speed, list(machine.BUDGETS_S)))
    print(f"memory: every kernel < {machine.KERNEL_BUDGET_MB:g} MB on every machine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
