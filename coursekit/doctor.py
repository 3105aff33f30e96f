"""``coursekit doctor``: is this environment ready for the course, and if not, what to do."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.version import Version

FIX = "run `make lab` in the course folder (or `pip install -e .` in your environment)"

# (distribution, oldest version the course is tested with, what it is for)
REQUIREMENTS = [
    ("torch", "2.4", "the blocks and experiments"),
    ("jupyterlab", "4.0", "reading the notebooks"),
    ("ipywidgets", "8.0", "the sliders and live plots"),
    ("matplotlib", "3.7", "the plots"),
    ("tqdm", "4.60", "progress bars"),
    ("nbclient", "0.8", "grading notebooks"),
    ("nbformat", "5.7", "building exercises"),
    ("scikit-learn", "1.2", "the digits data set"),
]


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was looked for, what was found, and the advice if not ok."""

    name: str
    found: str
    ok: bool
    advice: str = ""


def _installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def check_python() -> Finding:
    found = platform.python_version()
    ok = sys.version_info >= (3, 11)
    return Finding("python", found, ok, "" if ok else "install Python 3.11 or newer, then " + FIX)


def check_package(dist: str, minimum: str, purpose: str) -> Finding:
    found = _installed(dist)
    if found is None:
        return Finding(dist, "missing", False, f"needed for {purpose}: {FIX}")
    if Version(found) < Version(minimum):
        return Finding(dist, found, False, f"version {minimum} or newer is needed for {purpose}: {FIX}")
    return Finding(dist, found, True)


def check_widget_extension() -> Finding:
    """ipywidgets 8 draws in JupyterLab through the prebuilt ``@jupyter-widgets/jupyterlab-manager``."""
    from jupyter_core.paths import jupyter_path

    for root in jupyter_path("labextensions"):
        if (Path(root) / "@jupyter-widgets" / "jupyterlab-manager" / "package.json").is_file():
            return Finding("widget extension", f"found in {root}", True)
    return Finding(
        "widget extension",
        "missing",
        False,
        "widgets will show as text; install jupyterlab_widgets in the environment that runs "
        "JupyterLab (`pip install jupyterlab_widgets`) and restart JupyterLab",
    )


def check_threads() -> Finding:
    import torch

    cores = os.cpu_count() or 1
    threads = torch.get_num_threads()
    device = "CUDA GPU available" if torch.cuda.is_available() else "CPU only (all the course needs)"
    ok = threads >= 1
    return Finding("cpu threads", f"{cores} cores, torch uses {threads}; {device}", ok)


def diagnose() -> list[Finding]:
    """Every check, in the order the report shows them. Pure: prints nothing."""
    findings = [check_python()]
    findings += [check_package(*req) for req in REQUIREMENTS]
    if findings[1].ok:  # torch is importable
        findings.append(check_threads())
    if _installed("jupyter_core") is not None:
        findings.append(check_widget_extension())
    return findings


def format_report(findings: list[Finding]) -> str:
    width = max(len(f.name) for f in findings)
    lines = []
    for f in findings:
        lines.append(f"{'✅' if f.ok else '❌'} {f.name:<{width}}  {f.found}")
        if f.advice:
            lines.append(f"   {'':<{width}}  → {f.advice}")
    problems = sum(not f.ok for f in findings)
    lines.append(
        "All set: the course will run here."
        if not problems
        else f"{problems} problem(s) found; fix the lines marked ❌ as the arrows say."
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    findings = diagnose()
    print(format_report(findings))
    return 0 if all(f.ok for f in findings) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="check that this environment can run the course")
    parser.set_defaults(func=run)
