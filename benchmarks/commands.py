"""How long the learner's instant commands take: ``coursekit --help`` and ``coursekit progress``.

Budget: under 1 s each on 2 CPU cores. Each command is run as a learner runs it,
a fresh process from the shell, several times; the best and the median are printed (the
best is the machine's speed, the median what a busy machine gives).

    .venv/bin/python benchmarks/commands.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 1.0
COMMANDS = {
    "coursekit --help": ["--help"],
    "coursekit progress": ["progress"],
    "coursekit workspace": ["workspace", "--course", "{course}"],
}


def coursekit() -> str:
    """The ``coursekit`` script next to this Python (the course's .venv)."""
    script = Path(sys.executable).parent / "coursekit"
    return str(script) if script.exists() else "coursekit"


def time_command(argv: list[str], repeat: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (default 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coursekit-commands-") as scratch:
        course = Path(scratch) / "course"
        (course / "exercises").mkdir(parents=True)
        for notebook in sorted((ROOT / "exercises").glob("*.ipynb")):
            (course / "exercises" / notebook.name).write_bytes(notebook.read_bytes())
        # the learner's progress is left alone: progress is read from a scratch file
        env = {**os.environ, "COURSEKIT_PROGRESS": str(Path(scratch) / "progress.json")}
        python = time_command([sys.executable, "-c", "pass"], args.repeat, env)
        print(
            f"{'command':<22} {'best':>7} {'median':>7}  budget {BUDGET_S:.0f} s  ({args.repeat} runs each)"
        )
        print(f"{'(python -c pass)':<22} {min(python):>6.2f}s {statistics.median(python):>6.2f}s")
        failed = 0
        for name, tail in COMMANDS.items():
            argv = [coursekit(), *(part.format(course=course) for part in tail)]
            times = time_command(argv, args.repeat, env)
            ok = statistics.median(times) < BUDGET_S
            failed += not ok
            verdict = "ok" if ok else "OVER"
            print(f"{name:<22} {min(times):>6.2f}s {statistics.median(times):>6.2f}s  {verdict}")
    print(f"machine: {os.cpu_count()} CPU cores visible; load average {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
