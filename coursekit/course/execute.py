"""``coursekit execute``: re-run lessons and solutions in place, storing only what nbval reads.

The outputs stored in ``notebooks/`` and ``solutions/`` are what nbval compares against, so
they must be refreshed after every edit. Timings, widget state and the ids of widget models
would change on every run and bury the real changes in diffs, so they are not recorded: a
stored widget output keeps ``model_id: ""``, which JupyterLab's widget renderer hides, while
the picture stored beside it (coursekit/widgets/explorer.py) is what a reader sees.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ..work.layout import find_notebooks
from .jupyter_kernel import current_env_kernel_manager

DEFAULT_FOLDERS = ("notebooks", "solutions")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def execute_in_place(path: Path, timeout: int = 600) -> None:
    """Run ``path`` top to bottom in a fresh kernel, in its own folder, and save it."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timings left by other tools (nbconvert, JupyterLab)
    client = NotebookClient(
        nb,
        km=current_env_kernel_manager(),
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()
    nb.metadata.pop("widgets", None)  # widget state: different on every run, re-made when the cell runs
    forget_widget_models(nb)
    nbformat.write(nb, path)


def forget_widget_models(nb: object) -> None:
    """Blank the model id of every stored widget output (a new random id on every run)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_MIME)
            if isinstance(view, dict) and "model_id" in view:
                view["model_id"] = ""


def run(args: argparse.Namespace) -> int:
    try:
        paths = find_notebooks(args.paths or list(DEFAULT_FOLDERS))
    except FileNotFoundError as error:
        print(f"coursekit execute: {error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="coursekit-execute-") as scratch:
        # Checks passed while re-running solutions are not the maintainer's own progress.
        os.environ.setdefault("COURSEKIT_PROGRESS", os.path.join(scratch, "progress.json"))
        for path in paths:
            print(f"executing {path} ...", flush=True)
            try:
                execute_in_place(path, timeout=args.timeout)
            except CellExecutionError as error:
                print(f"coursekit execute: {path} failed and was not saved:\n{error}", file=sys.stderr)
                return 1
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments to its parser (made by :mod:`coursekit.course.cli`)."""
    parser.add_argument("paths", nargs="*", help="notebooks or folders (default: notebooks/ solutions/)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    parser.set_defaults(func=run)
