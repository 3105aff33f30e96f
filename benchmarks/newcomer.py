"""A newcomer's first run, timed: clone, then the README's two commands, non-interactively.

1. ``git clone`` this repository (its committed HEAD) into a temporary folder;
2. ``make lab`` there, in the background: a new environment (``.venv``, the runtime only),
   the work folder ``my-work/``, then JupyterLab, until it answers on localhost; then it is
   stopped (the whole process group, so no server or kernel is left);
3. ``make test``: the test extras, then the test suite (``--fast``: a quick subset, for a
   check of the install rather than of the course).

Each step's time is printed. The clone is deleted afterwards unless ``--keep``. Packages come
from wherever pip is configured to take them (PyPI, or a local wheel cache).

    .venv/bin/python benchmarks/newcomer.py [--fast] [--keep] [--python python3]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST_TESTS = [
    "tests/test_layout.py",
    "tests/test_environment.py",
    "tests/test_workspace.py",
    "tests/test_progress.py",
    "tests/test_doctor.py",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Stop a process started in its own session, with everything it started."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_for(condition, process: subprocess.Popen, timeout: float, what: str, log: Path) -> float:
    """Seconds until ``condition()`` holds; fails if the process ends or time runs out first."""
    start = time.perf_counter()
    while not condition():
        if process.poll() is not None:
            raise RuntimeError(
                f"{what}: the command ended (status {process.returncode}):\n{log.read_text()[-3000:]}"
            )
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return time.perf_counter() - start


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="make test runs a quick subset of the tests")
    parser.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    parser.add_argument("--python", default="python3", help="the newcomer's Python (default python3)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per step (default 1800)")
    args = parser.parse_args()

    times: list[tuple[str, float]] = []
    folder = Path(tempfile.mkdtemp(prefix="coursekit-newcomer-"))
    clone = folder / "course"
    # the newcomer's shell: no virtual environment of ours, no progress file of ours
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "COURSEKIT_PROGRESS", "PYTHONPATH")
    }
    if "VIRTUAL_ENV" in os.environ:
        venv_bin = str(Path(os.environ["VIRTUAL_ENV"]) / "bin")
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    print(f"newcomer run in {folder}", flush=True)
    try:
        start = time.perf_counter()
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, env=env)
        times.append(("git clone", time.perf_counter() - start))
        print(f"git clone: {times[-1][1]:.1f} s", flush=True)

        port, token = free_port(), secrets.token_hex(16)
        lab_args = f"LAB_ARGS=--no-browser --port={port} --IdentityProvider.token={token}"
        log = folder / "make-lab.log"
        start = time.perf_counter()
        with log.open("w") as out:
            lab = subprocess.Popen(
                ["make", "lab", f"PYTHON={args.python}", lab_args],
                cwd=clone,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            stamp = clone / ".venv" / ".installed-runtime"
            installed = wait_for(stamp.exists, lab, args.timeout, "make lab: installing", log)
            times.append(("make lab: new .venv, runtime installed", installed))
            print(f"{times[-1][0]}: {installed:.1f} s", flush=True)
            url = f"http://127.0.0.1:{port}/api/status?token={token}"
            up = wait_for(lambda: answers(url), lab, args.timeout, "make lab: JupyterLab", log)
            times.append(("make lab: then until JupyterLab answers", up))
            print(f"{times[-1][0]}: {up:.1f} s", flush=True)
            total = time.perf_counter() - start
        finally:
            stop(lab)
        times.append(("make lab: total", total))
        copies = sorted(p.name for p in (clone / "my-work").glob("*.ipynb"))
        print(f"make lab made my-work/ with {len(copies)} exercise copies: {', '.join(copies)}", flush=True)
        has_pytest = (clone / ".venv" / "bin" / "pytest").exists()
        verdict = "yes (a problem)" if has_pytest else "no, as it should"
        print(f"make lab installed pytest (test extras): {verdict}")

        log = folder / "make-test.log"
        command = ["make", "test", f"PYTHON={args.python}"]
        if args.fast:
            command.append("PYTEST_ARGS=-o addopts= -q " + " ".join(FAST_TESTS))
        start = time.perf_counter()
        with log.open("w") as out:
            test = subprocess.Popen(
                command, cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            stamp = clone / ".venv" / ".installed-test"
            installed = wait_for(stamp.exists, test, args.timeout, "make test: installing", log)
            times.append(("make test: test extras installed", installed))
            print(f"{times[-1][0]}: {installed:.1f} s", flush=True)
            test.wait(timeout=args.timeout * 4)
        finally:
            stop(test)
        total = time.perf_counter() - start
        times.append(
            (f"make test: then the tests{' (--fast subset)' if args.fast else ''}", total - installed)
        )
        times.append(("make test: total", total))
        closing = [line for line in log.read_text().splitlines() if line.strip()][-1:]
        print(f"make test exit status {test.returncode}: {closing[0] if closing else ''}", flush=True)
        ok = test.returncode == 0
        if not ok:
            print("the end of make test's output:\n" + "\n".join(log.read_text().splitlines()[-40:]))
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    print()
    print(f"{'step':<46} {'time':>8}")
    for step, seconds in times:
        print(f"{step:<46} {seconds:>7.1f}s")
    print(f"machine: {os.cpu_count()} CPU cores visible; load average now {os.getloadavg()[0]:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
