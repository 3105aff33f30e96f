"""The ``coursekit`` command line.

Each subcommand lives in the module that owns its concept and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a function taking the
parsed arguments and returning an exit status.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import bench, build, doctor, execute, grade, progress

SUBCOMMANDS = [doctor, execute, build, grade, progress, bench]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="coursekit", description="Tools for the course on residuals, LayerNorm and MLPs."
    )
    parser.add_argument("--version", action="version", version=f"coursekit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(subparsers)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
