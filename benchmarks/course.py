"""The whole course against its budgets: every lesson and solution notebook run top to bottom
in a fresh kernel, with its time and the kernel's peak memory.

Budgets (on 2 CPU cores): a lesson under 60 s (the capstone, lesson 8, under 3 minutes), the
whole course (lessons and solutions) under 5 minutes, a notebook kernel under 1 GB.
A kernel's peak memory is its resident set's high-water mark (``VmHWM`` in ``/proc/<pid>/status``,
Linux), read just before the kernel is shut down. Nothing is saved: the notebooks stay as they
are, and checks record progress in a scratch file.

    .venv/bin/python benchmarks/course.py [NOTEBOOK_OR_FOLDER ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a clone without installing: the course's own coursekit

from coursekit.course.jupyter_kernel import current_env_kernel_manager  # noqa: E402
from coursekit.course.layout import find_notebooks  # noqa: E402

LESSON_BUDGET_S = 60.0
CAPSTONE_BUDGET_S = {"notebooks/08_your_own_gpt.ipynb": 180.0}  # the capstone: 3 minutes
COURSE_BUDGET_S = 300.0
KERNEL_BUDGET_MB = 1024.0


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


async def run_one(path: Path, timeout: int) -> dict[str, object]:
    """Run ``path`` in a fresh kernel; its wall time, the kernel's peak memory and any error."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    km = current_env_kernel_manager()
    client = NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
    error, peak = "", None
    start = time.perf_counter()
    try:
        await client.async_execute()
    except Exception as exc:  # a failing notebook is a row of the table, not the end of the run
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    finally:
        seconds = time.perf_counter() - start
        if km.has_kernel:
            pid = getattr(km.provisioner, "pid", None)
            peak = peak_rss_mb(pid) if pid else None
            await km.shutdown_kernel(now=False)
    return {"notebook": str(path.relative_to(ROOT)), "seconds": seconds, "peak_mb": peak, "error": error}


async def run_all(paths: list[Path], timeout: int) -> list[dict[str, object]]:
    rows = []
    for path in paths:
        row = await run_one(path, timeout)
        rows.append(row)
        peak = "n/a" if row["peak_mb"] is None else f"{row['peak_mb']:.0f} MB"
        line = f"{row['notebook']:<42} {row['seconds']:>6.1f}s {peak:>12}  {verdict(row)}"
        print(line + (f"  ({row['error']})" if row["error"] else ""), flush=True)
    return rows


def verdict(row: dict[str, object]) -> str:
    problems = []
    if row["error"]:
        problems.append("FAILED")
    budget = CAPSTONE_BUDGET_S.get(str(row["notebook"]), LESSON_BUDGET_S)
    if row["notebook"].startswith("notebooks/") and row["seconds"] >= budget:
        problems.append(f"OVER {budget:.0f} s")
    if row["peak_mb"] is not None and row["peak_mb"] >= KERNEL_BUDGET_MB:
        problems.append("OVER 1 GB")
    return ", ".join(problems) or "ok"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="notebooks or folders (default: notebooks/ solutions/)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()
    paths = find_notebooks(args.paths or [str(ROOT / "notebooks"), str(ROOT / "solutions")])
    paths = [p.resolve() for p in paths]
    with tempfile.TemporaryDirectory(prefix="coursekit-course-bench-") as scratch:
        os.environ["COURSEKIT_PROGRESS"] = str(Path(scratch) / "progress.json")  # not the learner's
        print(f"{'notebook':<42} {'time':>7} {'kernel peak':>12}  verdict", flush=True)
        rows = asyncio.run(run_all(paths, args.timeout))  # one event loop for every kernel
    total = sum(r["seconds"] for r in rows)
    peaks = [r["peak_mb"] for r in rows if r["peak_mb"] is not None]
    course_ok = total < COURSE_BUDGET_S
    print(
        f"{'total':<42} {total:>6.1f}s {max(peaks):>9.0f} MB  "
        f"{'ok' if course_ok else 'OVER 5 min'} (budgets: lesson < 60 s, course < 300 s, kernel < 1024 MB)"
        if peaks
        else f"{'total':<42} {total:>6.1f}s"
    )
    print(f"machine: {os.cpu_count()} CPU cores visible; load average now {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0 if course_ok and all(verdict(r) == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
