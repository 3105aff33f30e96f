"""A check cell run before the cell it checks reads as a one-line hint, not a traceback.

Running ``check_skip_stacks(PlainStack, ResidualStack)`` before the cell that defines
``PlainStack`` raises ``NameError`` in the check cell itself, before any check runs. In a
notebook, importing :mod:`coursekit.checks` installs an IPython handler that shows such an
error as one line ("⬜ not attempted: run the cell that defines `PlainStack` first"). Every
other error, and a NameError anywhere else (in the learner's own code, in a lesson), keeps
IPython's usual traceback. The cell still fails, so Run All stops there as it would anyway,
and the grader sees the NameError and scores the check "not attempted".
"""

from __future__ import annotations

import linecache
import re
from types import TracebackType

from ..work.layout import NOT_ATTEMPTED, result_symbol

# a check cell calls one check: check_<thing>(...) or check_answer("id", ...)
_CHECK_CALL = re.compile(r"^\s*check_\w+\(", re.MULTILINE)


def missing_name_hint(name: str) -> str:
    """The one line a learner reads for a check cell run before ``name`` was defined."""
    return (
        f"{result_symbol(NOT_ATTEMPTED)} {NOT_ATTEMPTED}: `{name}` is not defined yet: "
        f"run the cell that defines `{name}` first (Run All runs every cell in order)"
    )


def raised_in_check_cell(tb: TracebackType | None) -> bool:
    """Whether the error was raised by the top level of a cell that calls a ``check_*`` function."""
    if tb is None:
        return False
    frame = tb.tb_frame  # the cell's own frame comes first: IPython drops its own frames
    while tb.tb_next is not None and tb.tb_frame.f_code.co_name != "<module>":
        tb = tb.tb_next
        frame = tb.tb_frame
    if frame.f_code.co_name != "<module>" or tb.tb_next is not None:
        return False  # raised deeper, inside a function: the learner's own bug, keep the traceback
    source = "".join(linecache.getlines(frame.f_code.co_filename))
    return bool(_CHECK_CALL.search(source))


def _handler(shell, etype, evalue, tb, tb_offset=None):  # IPython's custom_exc signature
    if isinstance(evalue, NameError) and evalue.name and raised_in_check_cell(tb):
        print(missing_name_hint(evalue.name))
        return None
    shell.showtraceback((etype, evalue, tb), tb_offset=tb_offset)
    return None


def install(shell: object = None) -> bool:
    """Install the handler in ``shell`` (default: the running IPython, if any); whether it was."""
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    if shell.custom_exceptions and _handler.__name__ != getattr(shell.CustomTB, "__name__", ""):
        return False  # someone else's handler: leave it
    shell.set_custom_exc((NameError,), _handler)
    return True
