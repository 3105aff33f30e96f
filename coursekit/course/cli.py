"""The ``coursekit`` command line.

Each subcommand lives in the module that owns its concept, which exposes
``register(parser)`` (adds its arguments and sets ``func``, a function taking the parsed
arguments and returning an exit status). Only the chosen command's module is imported, so
``coursekit --help`` and ``coursekit progress`` answer without loading torch or nbformat.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import version

# name -> (module, one-line help), in the order --help lists them
SUBCOMMANDS = {
    "doctor": ("coursekit.course.doctor", "check that this environment can run the course"),
    "execute": (
        "coursekit.course.execute",
        "re-run lessons and solutions in place (maintainers; stores outputs for nbval)",
    ),
    "build": ("coursekit.course.build", "make exercises/ from solutions/"),
    "grade": ("coursekit.course.grade", "grade exercise notebooks in a fresh kernel"),
    "export": ("coursekit.course.export", "export the course as an nbgrader course folder (instructors)"),
    "progress": ("coursekit.work.progress", "show the latest result of each exercise check"),
    "workspace": (
        "coursekit.course.workspace",
        "copy new exercises into your work folder my-work/ (never overwrites your files)",
    ),
    "bench": ("coursekit.course.bench", "time the experiments engine against its budgets"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="coursekit", description="Tools for the course on residuals, LayerNorm and MLPs."
    )
    parser.add_argument("--version", action="version", version=f"coursekit {version('coursekit')}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module).register(sub)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
