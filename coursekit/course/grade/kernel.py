"""The kernel driver: one fresh kernel per notebook, learner cells run as they are, check cells
through the guard, whose signed report is read back from a scratch folder."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import logging
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nbformat

from ...work.layout import ENV as PROGRESS_ENV
from ..jupyter_kernel import current_env_kernel_manager
from . import guard
from .report import GradeError

RESPONSIVE_TIMEOUT = 30  # seconds the kernel gets to answer again after a timeout
SETUP_TIMEOUT = 180  # the grader's own setup cell (imports torch), whatever --timeout says
TIMEOUT_ENAME = "CellTimeout"

# read once, when the grader starts: every kernel gets the guard this grader was started with
GUARD_SOURCE = Path(guard.__file__).read_text(encoding="utf-8")

_QUIET = logging.getLogger("coursekit.course.grade.nbclient")
_QUIET.setLevel(logging.CRITICAL)


def setup_source(module: str, key_file: str, folder: str) -> str:
    """The setup cell: the guard's source run in a namespace of its own, and only the guard kept,
    as ``sys.modules[module].guard``; nothing is left in the learner's namespace."""
    return (
        "def _coursekit_setup(source):\n"
        "    import sys\n"
        f"    namespace = {{'__name__': {module!r}}}\n"
        "    exec(compile(source, '<coursekit grader guard>', 'exec'), namespace)\n"
        f"    key = namespace['read_key']({key_file!r})\n"
        f"    sys.modules[{module!r}] = type(sys)({module!r})\n"
        f"    sys.modules[{module!r}].guard = namespace['make_guard'](key, {folder!r})\n"
        f"_coursekit_setup({GUARD_SOURCE!r})\n"
        "del _coursekit_setup\n"
    )


class KernelRun:
    """One notebook's execution: learner cells as they are, check cells through the guard."""

    def __init__(
        self,
        metadata: dict,
        cwd: Path,
        timeout: int,
        scratch: Path,
        km: object = None,
        env: dict | None = None,
    ) -> None:
        """``km``: the kernel manager (default: this environment's Python, unsandboxed); ``env``:
        additions to the kernel's environment (:mod:`.isolation`'s pristine library)."""
        from nbclient import NotebookClient

        self.error: dict[str, object] | None = None
        self.key = secrets.token_bytes(32)
        self.module = f"_coursekit_grader_{secrets.token_hex(8)}"
        self.results = scratch / secrets.token_hex(8)
        self.results.mkdir()
        self.progress = scratch / "progress.json"
        self.calls = 0
        self.env = env or {}
        # nbclient stores each executed cell at its index in the notebook it holds: give it a
        # scratch notebook of one cell, so the grader's own cells never land in the one it grades
        self.scratch_nb = nbformat.v4.new_notebook(metadata=copy.deepcopy(metadata))
        self.scratch_nb.cells = [nbformat.v4.new_code_cell("")]
        self.client = NotebookClient(
            self.scratch_nb,
            km=km or current_env_kernel_manager(),
            timeout=timeout,
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={
                "ename": TIMEOUT_ENAME,
                "evalue": f"ran longer than {timeout} s",
                "traceback": [],
            },
            resources={"metadata": {"path": str(cwd)}},
            on_cell_error=self._on_error,
            log=_QUIET,  # nbclient logs each timeout and dead kernel as an ERROR; the table says it
        )

    def _on_error(self, cell: object, cell_index: int, execute_reply: dict[str, object]) -> None:
        self.error = execute_reply.get("content", {})  # type: ignore[assignment]

    def cell(self, cell: nbformat.NotebookNode, history: bool = True) -> dict[str, object] | None:
        """Run one cell; return the error reply's content, if it failed."""
        self.error = None
        self.client.execute_cell(cell, 0, store_history=history)
        return self.error

    @contextlib.contextmanager
    def _limit(self, seconds: int) -> Iterator[None]:
        limit = self.client.timeout
        self.client.timeout = seconds
        try:
            yield
        finally:
            self.client.timeout = limit

    def setup(self) -> dict[str, object] | None:
        """The guard, before any learner code; importing torch on a busy machine gets a generous limit."""
        key_file = self.results.parent / secrets.token_hex(8)
        key_file.write_text(self.key.hex(), encoding="ascii")
        source = setup_source(self.module, str(key_file), str(self.results))
        with self._limit(max(self.client.timeout or 0, SETUP_TIMEOUT)):
            return self.cell(nbformat.v4.new_code_cell(source), history=False)

    def responsive(self) -> bool:
        """After a timeout: does the kernel answer again? (Code that swallows the interrupt keeps it busy.)"""
        with self._limit(min(self.client.timeout or RESPONSIVE_TIMEOUT, RESPONSIVE_TIMEOUT)):
            return self.cell(nbformat.v4.new_code_cell("pass"), history=False) is None

    def check(self, source: str) -> tuple[dict | None, dict[str, object] | None]:
        """Run a pristine check cell through the guard: (the guard's signed report or None, error)."""
        self.calls += 1
        nonce = secrets.token_hex(16)
        call = nbformat.v4.new_code_cell(
            f"__import__('sys').modules[{self.module!r}].guard({self.calls}, {nonce!r}, {source!r})"
        )
        error = self.cell(call, history=False)
        path = self.results / f"{self.calls}.json"
        try:
            sign, payload = path.read_text(encoding="utf-8").split("\n", 1)
        except (OSError, ValueError):
            return None, error
        expected = hmac.new(self.key, (nonce + payload).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sign, expected):
            return {"results": [], "error": None, "flags": ["the grader's report was forged"]}, error
        return json.loads(payload), error


@contextlib.contextmanager
def kernel_session(run: KernelRun) -> Iterator[None]:
    """Start the kernel with progress redirected to scratch (grading never touches a learner's record),
    and shut it down however the block ends: an error, a timeout, Ctrl-C or SIGTERM."""
    env = {**os.environ, **run.env, PROGRESS_ENV: str(run.progress)}
    try:
        # the kernel's own stderr (e.g. its transport warning) is noise here; learners' output goes via IOPub
        context = run.client.setup_kernel(
            cleanup_kc=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        context.__enter__()
    except BaseException as exc:
        _shutdown(run)  # a kernel may be up already (Ctrl-C while it was starting)
        if not isinstance(exc, Exception):
            raise
        raise GradeError(  # any failure to start is "no kernel"
            f"could not start a Python kernel ({type(exc).__name__}: {exc}); "
            "is ipykernel installed in this environment?"
        ) from None
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            context.__exit__(None, None, None)


def _shutdown(run: KernelRun) -> None:
    """Shut down a kernel that started though its session did not (nbclient cleans up only after)."""
    from jupyter_core.utils import run_sync

    km = run.client.km
    with contextlib.suppress(Exception):
        if km is not None and km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
