"""``coursekit grade NOTEBOOK_OR_FOLDER...``: score learners' exercise notebooks, for instructors.

An instructor who grades a class of 100 notebooks will not read them, so a score has to be
right on its own. How each notebook is graded:

1. **Read once, never written.** Every notebook of the class (nbformat 4 or 3) is read, bytes
   and SHA-256, before the first kernel starts; a file that cannot be read is reported on its
   own line and the rest of the class is graded (exit status 1). Each is graded from that
   private copy, in a fresh working folder of its own, never the class folder (:mod:`.isolation`).
2. **Pristine check cells, found robustly.** Each check cell of the matching exercise is found
   in the learner's notebook by cell id, else by content (the same check calls: a notebook
   whose cells were pasted into a new one, or saved as nbformat 3, has other ids or none),
   and replaced by the pristine cell; a deleted one is put back after the nearest exercise
   cell the learner still has. A learner's own cell that calls a check is just code.
3. **The guard, before any learner code.** A fresh kernel first runs the grader's own setup
   cell (not stored in the kernel's input history), which receives the source of
   :mod:`.guard` and runs it in a namespace of its own: it imports the checks and snapshots,
   by object identity, every attribute of every ``coursekit`` and ``torch`` module and class,
   ``builtins`` and the standard-library modules the checks use, and ``sys.modules``' entries
   for them. It keeps the snapshot, a secret key and the folder results go to in a closure;
   the key comes from a file the grader wrote and the setup deletes, never from a cell's
   source (IPython keeps every cell's source in ``linecache``).
4. **Each check runs in the pristine world.** In place of the check cell, the grader runs a
   one-line cell calling the guard, which: compares the world with the snapshot and notes
   every name a learner cell replaced or deleted; puts the original objects back for the
   duration of the check; runs the pristine cell's source with the original check functions
   bound to their names (a learner's ``def check_layer_norm`` is never called); collects the
   results the checks recorded; checks that nothing was changed *during* the check (a
   learner's forward patching the checks: that check fails, flagged); writes the results,
   signed (HMAC with the key from step 3 over a fresh nonce from the grader), to a file the
   grader reads at once; and finally gives the learner's world back, patches included, so
   the learner's later cells run as they would have. The score comes from that file only:
   not from stdout (a silenced stdout or a replaced ``print`` changes nothing), not from
   ``coursekit.checks.core.drain`` (never called), not from the progress file.
5. **Flags.** A notebook whose cells replaced a check, patched ``coursekit``, ``torch`` or a
   module the checks use, or replaced ``sys.modules`` entries (all seen by the guard), or whose
   source touches the progress file or the result channel, or reaches for the grader's
   internals (``gc.get_objects``, frames, closures, ``ctypes``, the kernel's parent message)
   is flagged in the table, the JSON and
   the CSV, so the instructor can look. Its scores are still what the checks say on the
   pristine world: the forging attempt scores what the same notebook without it scores.

What this defends against: every forge by reassigning names or module or class attributes
(in the notebook's namespace, in coursekit, torch, builtins, json, hashlib, math, ...), by
printing fake ✅ lines, by silencing or replacing stdout, by writing the progress file, by
replacing the result channel (``drain``), by editing, deleting, moving or re-tagging check
cells; and, in "from scratch" exercises, by subclassing, wrapping or calling the
``torch.nn`` module being built (the checks themselves refuse it).

What is compared: every attribute of ``coursekit.checks``, ``coursekit.course`` and
``sys.modules``' entries; elsewhere (torch, the rest of coursekit, the standard library) the
functions, classes and modules, not plain data (flags and caches that torch and the
experiments change as they run). torch's own wrapping of its functions (``torch.manual_seed``
once dynamo loads, an optimizer's ``step`` at first use: code inside torch whose
``__wrapped__`` leads to the original) is adopted, not flagged.

What it does not defend against: the kernel runs the learner's code, so code written to
dig the grader's own objects out of the kernel's memory (``gc.get_objects()``, frame or
closure inspection, ``ctypes``) and forge from there, or to change torch below Python (its
C++ dispatch), can still forge. Such code is deliberate, cannot be written by accident, and
the usual ways in are flagged by the source scan. Guessing a multiple-choice answer is
possible too.

One notebook against the others (:mod:`.isolation`, :mod:`.sandbox`). The library (``coursekit``
and the pristine exercises) is read into memory with the class, and each kernel imports it from a
pristine copy made for the run, first on its ``PYTHONPATH``. Before and after each notebook the
class's notebooks, the installed library (the grader's own files included) and the pristine copy
are compared by hash with what was read (the grader may run as root: file permissions are no
defence, the comparison is). A classmate's notebook deleted or changed is still graded from the
copy read at the start and is reported on stderr and in the report (``isolation.events``), its
original written to a recovery folder it names, never put back silently; a changed library file is
moved there and the original put back, and the pristine copy made anew, so the next notebook is
graded against the pristine library; processes a kernel leaves behind are killed (found by a token
in their environment, Linux); the notebook graded when the change appeared is flagged (with
``--jobs`` > 1, every one running then, and those running when the library changed are graded
again, alone, so no score was taken against a changed library). The order of grading changes no
score. Learner code that deletes or writes files or starts processes is flagged by a source scan.
``--sandbox bwrap`` (``auto`` where it runs) adds bubblewrap: the kernel sees the machine
read-only, writes only its own 256 MB tmpfs working folder and the grader's scratch folder, has no
network (ZMQ over Unix sockets), and its processes die with it; then nothing outside the box
changes at all.

What that does not defend against: without bwrap, a notebook can read classmates' work, use the
network, fill the disk (its working folder is removed after it; over 256 MB is flagged), or harm
anything outside the files watched (the user's home, other processes); a process that clears its
environment escapes the kill, and a change it makes later is blamed on the notebook running then
(and undone); a library change made and undone within one notebook's run goes unseen (with
``--jobs`` 1 it can touch that notebook's own score only; with more, the notebooks running beside
it too). Bytecode caches in the installed library are not watched (the kernels write none and
import from the pristine copy). Under bwrap a kernel can still read the whole machine (the class
folder included), use its memory and CPU (``--timeout`` bounds the time), and attack the kernel
of the machine itself. For an exam under adversarial conditions, grade with ``--sandbox bwrap``
and read the flagged notebooks.

A cell that runs past ``--timeout`` seconds is stopped: a check scores "timeout"; a check
that then fails for want of what the stopped cell would have defined also scores "timeout",
with the stopped cell named first. A kernel that does not answer within 30 s of the
interrupt (code that swallows ``KeyboardInterrupt``) is stuck: every later check scores
"timeout" at once, naming the cell. If the kernel dies, every check from there on scores
"kernel died". Stderr, warnings and outputs play no part in the score.

A class is graded a notebook at a time, or ``--jobs N`` at a time, each in a process and a
fresh kernel of its own, with the same report (:mod:`.classroom`). The modules, by
responsibility: :mod:`.matching` (reading a notebook, putting the pristine check cells back),
:mod:`.flags` (the source scan), :mod:`.guard` (the code the kernel receives), :mod:`.kernel`
(the kernel driver), :mod:`.notebook` (one submission: :func:`grade_submission`),
:mod:`.isolation` (the class and the library in custody, each notebook in a box of its own),
:mod:`.sandbox` (bubblewrap),
:mod:`.classroom` (a class: jobs, shards, merge), :mod:`.report` (scores, table, summary, CSV,
JSON) and :mod:`.command` (the command line).
"""

import argparse

from ...work.layout import check_names_in
from ..jupyter_kernel import current_env_kernel_manager
from . import command
from .classroom import Shard, class_notebooks, default_jobs, grade, merge
from .flags import source_flags
from .matching import assemble, find_exercise, read_notebook
from .notebook import DEFAULT_TIMEOUT, Submission, grade_notebook, grade_submission
from .report import (
    CSV_FIELDS,
    GradeError,
    NotebookError,
    NotebookReport,
    Score,
    class_summary,
    format_summary,
    format_table,
    json_document,
    short_names,
    write_csv,
)


def run(args: argparse.Namespace) -> int:
    """``coursekit grade``: :func:`.command.run` with this package's ``grade`` and ``format_table``,
    looked up when it runs (so a test can replace them here)."""
    return command.run(args, grade=grade, format_table=format_table)


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``coursekit grade``'s arguments to its parser (made by :mod:`coursekit.course.cli`)."""
    command.register(parser, run)


__all__ = [
    "CSV_FIELDS",
    "DEFAULT_TIMEOUT",
    "GradeError",
    "NotebookError",
    "NotebookReport",
    "Score",
    "Shard",
    "Submission",
    "assemble",
    "check_names_in",
    "class_notebooks",
    "class_summary",
    "current_env_kernel_manager",
    "default_jobs",
    "find_exercise",
    "format_summary",
    "format_table",
    "grade",
    "grade_notebook",
    "grade_submission",
    "json_document",
    "merge",
    "read_notebook",
    "register",
    "run",
    "short_names",
    "source_flags",
    "write_csv",
]
