"""``coursekit doctor``: is this environment ready for the course, and if not, what to do."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

FIX = "run `make lab` in the course folder (or `pip install -e .` in your environment)"

# What each of coursekit's dependencies is for; the versions come from the package itself
# (pyproject.toml), so the report and the install can never disagree.
PURPOSES = {
    "torch": "the blocks and experiments",
    "jupyterlab": "reading the notebooks",
    "ipywidgets": "the sliders and live plots",
    "ipykernel": "running notebooks",
    "matplotlib": "the plots",
    "tqdm": "progress bars",
    "nbclient": "grading notebooks",
    "nbformat": "building exercises",
    "scikit-learn": "the digits data set",
    "packaging": "this report",
}


def requirements() -> list[Requirement]:
    """coursekit's runtime dependencies, as installed (extras such as ``test`` left out)."""
    declared = [Requirement(line) for line in metadata.requires("coursekit") or []]
    return [req for req in declared if req.marker is None]


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


def check_package(req: Requirement) -> Finding:
    purpose = PURPOSES.get(req.name, "the course")
    found = _installed(req.name)
    if found is None:
        return Finding(req.name, "missing", False, f"needed for {purpose}: {FIX}")
    if not req.specifier.contains(Version(found).base_version, prereleases=True):
        return Finding(req.name, found, False, f"{req.name}{req.specifier} is needed for {purpose}: {FIX}")
    return Finding(req.name, found, True)


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
    # for information: any thread count works
    threads = torch.get_num_threads()
    device = "CUDA GPU available" if torch.cuda.is_available() else "CPU only (all the course needs)"
    return Finding(
        "cpu threads", f"{cores} cores, torch uses {threads}; {device}", ok=True
    )  # for information


def diagnose() -> list[Finding]:
    """Every check, in the order the report shows them. Pure: prints nothing."""
    findings = [check_python()]
    try:
        packages = [check_package(req) for req in requirements()]
    except metadata.PackageNotFoundError:
        return [*findings, Finding("coursekit", "not installed", False, FIX)]
    findings += packages
    if any(f.name == "torch" and f.ok for f in packages):
        findings.append(check_threads())
    if _installed("jupyter_core") is not None:
        findings.append(check_widget_extension())
    return findings


def format_report(findings: list[Finding]) -> str:
    width = max(len(f.name) for f in findings)
    lines = []
    for f in findings:
        mark = "✅ ok " if f.ok else "❌ fix"  # the word beside the symbol: an emoji may render as a box
        lines.append(f"{mark} {f.name:<{width}}  {f.found}")
        if f.advice:
            lines.append(f"   {'':<{width}}  → {f.advice}")
    problems = sum(not f.ok for f in findings)
    lines.append(
        "All set: the course will run here."
        if not problems
        else f"{problems} problem(s) found; fix the lines marked ❌ fix as the arrows say."
    )
    return "\n".join(lines)


ALL_SET = (
    "✅ All set: Python, PyTorch, JupyterLab, ipywidgets and the widget extension are ready; "
    "the course will run here. (`coursekit doctor` lists versions and paths.)"
)


def summary(findings: list[Finding]) -> str:
    """One line, the same on every machine, when all is well; else the full report.

    The start-here notebook stores this output, so it must carry nothing machine-specific
    (no paths, no versions) in the normal case, and nbval can compare it; a machine with a
    problem shows every line, with the advice.
    """
    return ALL_SET if all(f.ok for f in findings) else format_report(findings)


def show_environment() -> None:
    """Print whether this environment is ready (for the start-here notebook): one line that is
    the same everywhere when all is well, the doctor's full report when it is not."""
    print(summary(diagnose()))


def run(args: argparse.Namespace) -> int:
    findings = diagnose()
    print(format_report(findings))
    return 0 if all(f.ok for f in findings) else 1


def register(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments to its parser (made by :mod:`coursekit.course.cli`)."""
    parser.set_defaults(func=run)
