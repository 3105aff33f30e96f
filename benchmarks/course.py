"""The whole course against its budgets: every lesson and solution notebook run top to bottom
in a fresh kernel, with its time and the kernel's peak memory.

Budgets, set on the slow reference machine (2 cores; :mod:`coursekit.course.machine`) and
scaled by this machine's measured speed against it: a lesson under 60 s (the capstone, lesson
08, 180 s), solution 05 under 20 s, the whole course (lessons and solutions) under 5 minutes; a
notebook kernel under 1 GB on every machine. A kernel's peak memory is the larger of its
resident set's high-water mark (``VmHWM`` in ``/proc/<pid>/status``, Linux, read just before
the kernel is shut down) and the peak proportional memory of the kernel and its worker
processes together, sampled as it runs (:class:`TreeMemory`). PyTorch's one-time import (a
second or more on the reference, with nothing a progress bar could count) runs first as a cell
of its own and is reported as the kernel's start-up: it counts in the notebook's time, not
against its first cell; a cell of imports only is not held to the progress-bar budget either
(nothing to count). Nothing is saved: the notebooks stay as they are, and checks record
progress in a scratch file.

    .venv/bin/python benchmarks/course.py [NOTEBOOK_OR_FOLDER ...] [--json FILE] [--cells N] [--factor F]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a clone without installing: the course's own coursekit

from coursekit.course import machine  # noqa: E402
from coursekit.course.jupyter_kernel import current_env_kernel_manager  # noqa: E402
from coursekit.work.layout import find_notebooks  # noqa: E402

KERNEL_BUDGET_MB = machine.KERNEL_BUDGET_MB


def time_budget(notebook: str) -> str | None:
    """The name of the time budget (:data:`machine.BUDGETS_S`) of the notebook at ``notebook``
    (a path from the course root), or None: solutions other than 05 count in the course's only."""
    name = Path(notebook).name
    if notebook.startswith("notebooks/"):
        return "capstone lesson (08)" if name.startswith("08_") else "lesson"
    return "solution 05" if notebook.startswith("solutions/") and name.startswith("exercise_05_") else None


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory in MiB (Linux), or None where it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def tree_pss_mb(pid: int) -> float:
    """The proportional memory (``Pss``, Linux) of process ``pid`` and of every process below it,
    in MiB: a kernel's worker processes (the capstone forks two) count in its footprint, the pages
    they share with it once."""
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            children = [
                Path(f"/proc/{p}/task/{t}/children").read_text().split()
                for t in os.listdir(f"/proc/{p}/task")
            ]
        except OSError:  # gone meanwhile
            continue
        total += next(
            (int(line.split()[1]) / 1024 for line in rollup.splitlines() if line.startswith("Pss:")), 0.0
        )
        stack += [int(c) for kids in children for c in kids]
    return total


class TreeMemory:
    """The peak of :func:`tree_pss_mb` over the process tree of ``pid()`` (None until the kernel
    has started), sampled every ``every`` seconds on a thread of its own while the notebook runs."""

    def __init__(self, pid: Callable[[], int | None], every: float = 0.25) -> None:
        import threading

        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(pid, every), daemon=True)
        self._thread.start()

    def _sample(self, pid: Callable[[], int | None], every: float) -> None:
        while not self._stop.wait(every):
            if (root := pid()) is not None:
                self.peak = max(self.peak, tree_pss_mb(root))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}  # what tqdm.auto draws in Jupyter


def progress_bar_client(nb: object, **kwargs: object) -> object:
    """An nbclient ``NotebookClient`` that also counts, per cell, the progress bars it opened."""
    from nbclient import NotebookClient

    class Client(NotebookClient):
        def handle_comm_msg(self, outs: list, msg: dict, cell_index: int) -> None:
            state = msg["content"].get("data", {}).get("state", {})
            if msg["msg_type"] == "comm_open" and state.get("_model_name") in PROGRESS_MODELS:
                self.bars[cell_index] = self.bars.get(cell_index, 0) + 1
            super().handle_comm_msg(outs, msg, cell_index)

    client = Client(nb, **kwargs)
    client.bars = {}
    return client


def cell_seconds(cell: dict) -> float:
    """How long a cell ran, from the timing nbclient records in its metadata (0 if not run)."""
    from datetime import datetime

    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.status.busy"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    began, ended = (datetime.fromisoformat(t.rstrip("Z")) for t in (start, end))
    return (ended - began).total_seconds()


STARTUP_SOURCE = "import torch  # course.py's start-up cell: PyTorch's one-time import, timed apart"


def with_startup_cell(nb: object) -> object:
    """``nb`` with the start-up cell (:data:`STARTUP_SOURCE`) put first."""
    import nbformat

    nb.cells.insert(0, nbformat.v4.new_code_cell(STARTUP_SOURCE))
    return nb


def only_imports(source: str) -> bool:
    """Whether a cell's code is import statements and nothing else: no progress bar could count
    what it waits for, so the progress-bar budget does not apply to it."""
    import ast

    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        body = ast.parse("\n".join(lines)).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in body)


def silent_cells(nb: dict, bars: dict[int, int], limit_s: float) -> list[tuple[int, float]]:
    """``(index, seconds)`` of each of the notebook's own code cells (the start-up cell excluded;
    indices as in the notebook's file) that ran longer than ``limit_s`` without a progress bar,
    except cells of imports only (:func:`only_imports`)."""
    return [
        (index - 1, seconds)
        for index, cell in enumerate(nb["cells"])
        if index > 0
        and cell["cell_type"] == "code"
        and (seconds := cell_seconds(cell)) > limit_s
        and not bars.get(index)
        and not only_imports("".join(cell.get("source", "")))
    ]


async def run_one(path: Path, timeout: int, speed: machine.Speed) -> dict[str, object]:
    """Run ``path`` in a fresh kernel; its wall time, the kernel's peak memory, any error, and the
    cells that kept a learner waiting past the progress-bar budget without a bar."""
    import nbformat

    nb = with_startup_cell(nbformat.read(path, as_version=4))
    km = current_env_kernel_manager()
    client = progress_bar_client(
        nb, km=km, timeout=timeout, record_timing=True, resources={"metadata": {"path": str(path.parent)}}
    )
    error, peak = "", None
    tree = TreeMemory(lambda: getattr(km.provisioner, "pid", None) if km.has_kernel else None)
    start = time.perf_counter()
    try:
        await client.async_execute()
    except Exception as exc:  # a failing notebook is a row of the table, not the end of the run
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    finally:
        seconds = time.perf_counter() - start
        tree_peak = tree.stop()  # the kernel with its worker processes, shared pages once
        if km.has_kernel:
            pid = getattr(km.provisioner, "pid", None)
            peak = peak_rss_mb(pid) if pid else None
            await km.shutdown_kernel(now=False)
        peak = max(filter(None, (peak, tree_peak)), default=None)
    silent = silent_cells(nb, client.bars, speed.budget(machine.BUDGETS_S["cell without a progress bar"]))
    return {
        "notebook": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "seconds": seconds,
        "startup_s": cell_seconds(nb.cells[0]),
        "peak_mb": peak,
        "error": error,
        "silent_cells": [f"cell {i} ({s:.1f} s)" for i, s in silent],
        "cells": [
            {"cell": index - 1, "seconds": cell_seconds(cell), "first_line": first_line(cell)}
            for index, cell in enumerate(nb.cells)
            if index > 0 and cell["cell_type"] == "code"
        ],
    }


def first_line(cell: dict) -> str:
    """The first line of a cell's code that is not blank or a comment, to name the cell in a table."""
    lines = "".join(cell.get("source", "")).splitlines()
    return next((line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")), "")


async def run_all(
    paths: list[Path], timeout: int, speed: machine.Speed, slowest: int = 0
) -> list[dict[str, object]]:
    rows = []
    for path in paths:
        row = await run_one(path, timeout, speed)
        rows.append(row)
        peak = "n/a" if row["peak_mb"] is None else f"{row['peak_mb']:.0f} MB"
        times = f"{row['seconds']:>6.1f}s {row['startup_s']:>6.1f}s"
        line = f"{row['notebook']:<42} {times} {peak:>12}  {verdict(row, speed)}"
        print(line + (f"  ({row['error']})" if row["error"] else ""), flush=True)
        for cell in sorted(row["cells"], key=lambda c: -c["seconds"])[:slowest]:
            print(
                f"    cell {cell['cell']:>3} {cell['seconds']:>6.2f}s  {cell['first_line'][:70]}", flush=True
            )
    return rows


def verdict(row: dict[str, object], speed: machine.Speed) -> str:
    """``ok``, or what is wrong: failed, over its time budget on this machine, over 1 GB."""
    problems = []
    if row["error"]:
        problems.append("FAILED")
    budget = time_budget(row["notebook"])
    if budget is not None and row["seconds"] >= speed.budget(machine.BUDGETS_S[budget]):
        problems.append(f"OVER {speed.budget(machine.BUDGETS_S[budget]):.3g} s")
    if row["peak_mb"] is not None and row["peak_mb"] >= KERNEL_BUDGET_MB:
        problems.append("OVER 1 GB")
    if row.get("silent_cells"):
        problems.append("NO PROGRESS BAR: " + ", ".join(row["silent_cells"]))
    return ", ".join(problems) or "ok"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="notebooks or folders (default: notebooks/ solutions/)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON (with every cell's time)")
    parser.add_argument(
        "--cells", type=int, default=0, metavar="N", help="also list each notebook's N slowest cells"
    )
    parser.add_argument(
        "--factor",
        type=float,
        default=None,
        help="this machine's speed against the reference (default: measured)",
    )
    args = parser.parse_args()
    speed = machine.measure() if args.factor is None else machine.Speed.of_factor(args.factor)
    print(machine.describe(speed))
    print(
        machine.budgets_line(
            speed, ["lesson", "capstone lesson (08)", "solution 05", "course", "cell without a progress bar"]
        )
    )
    paths = find_notebooks(args.paths or [str(ROOT / "notebooks"), str(ROOT / "solutions")])
    paths = [p.resolve() for p in paths]
    with tempfile.TemporaryDirectory(prefix="coursekit-course-bench-") as scratch:
        os.environ["COURSEKIT_PROGRESS"] = str(Path(scratch) / "progress.json")  # not the learner's
        print(f"{'notebook':<42} {'time':>7} {'import':>7} {'kernel peak':>12}  verdict", flush=True)
        rows = asyncio.run(run_all(paths, args.timeout, speed, args.cells))  # one event loop for every kernel
    total = sum(r["seconds"] for r in rows)
    peaks = [r["peak_mb"] for r in rows if r["peak_mb"] is not None]
    course_budget = speed.budget(machine.BUDGETS_S["course"])
    course_ok = total < course_budget
    print(
        f"{'total':<42} {total:>6.1f}s {'':>7} {max(peaks):>9.0f} MB  "
        f"{'ok' if course_ok else 'OVER'} (budgets here: course < {course_budget:.3g} s, "
        f"kernel < {KERNEL_BUDGET_MB:g} MB; factor {speed.factor:.2f})"
        if peaks
        else f"{'total':<42} {total:>6.1f}s"
    )
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0 if course_ok and all(verdict(r, speed) == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
