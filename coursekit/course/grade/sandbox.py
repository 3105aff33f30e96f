"""The sandbox a learner's kernel runs in: bubblewrap (``bwrap``) where it works, else none.

Under ``bwrap`` the kernel sees the whole machine read-only (``--ro-bind / /``: the class folder,
the course library, the grader's own files), writes only its own box (its working folder, a
size-limited tmpfs; the grader's scratch folder for its results; its runtime folder, where it
talks to the grader over ZMQ ``ipc`` sockets, since it has no network: ``--unshare-net``), and
every process it starts dies with it (``--unshare-pid``, ``--die-with-parent``). bwrap is an
existing, audited tool (Flatpak's); nothing here is a home-made sandbox.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

LEVELS = ("auto", "none", "bwrap")
WORK_MB = 256  # the size of a sandboxed kernel's working folder, its temporary files in it (tmpfs)


class SandboxError(Exception):
    """The sandbox asked for cannot run here."""


@functools.cache
def bwrap_works() -> str:
    """'' when ``bwrap`` runs a command here with every option the grader uses, else why not."""
    path = shutil.which("bwrap")
    if path is None:
        return "bwrap is not installed (Debian/Ubuntu: apt install bubblewrap)"
    probe = [path, *_base(), "--size", "1048576", "--tmpfs", "/tmp", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run ({type(exc).__name__}: {exc})"
    if done.returncode != 0:
        return f"bwrap cannot make a sandbox here: {done.stderr.strip()[:200]}"
    return ""


def choose(level: str) -> str:
    """The level used for ``--sandbox level``: 'auto' is 'bwrap' where it works, else 'none';
    :class:`SandboxError` when 'bwrap' is asked for and cannot run."""
    if level not in LEVELS:
        raise SandboxError(f"--sandbox must be one of {', '.join(LEVELS)}, got {level!r}")
    if level == "none":
        return "none"
    why = bwrap_works()
    if not why:
        return "bwrap"
    if level == "bwrap":
        raise SandboxError(f"--sandbox bwrap: {why}")
    return "none"


def _base() -> list[str]:
    """What every sandbox has: the machine read-only, fresh /dev and /proc, no network, its own
    process tree (a process it leaves behind dies with it)."""
    return [
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
    ]  # fmt: skip


def bwrap_prefix(writable: list[Path], work: Path, notebook: Path) -> list[str]:
    """The command that runs a kernel in the sandbox: the ``writable`` folders (scratch, runtime)
    writable, ``work`` a fresh tmpfs of :data:`WORK_MB` with the private ``notebook`` copy in it and
    the kernel's temporary folder (``TMPDIR``)."""
    size, tmp = str(WORK_MB * 1024 * 1024), work / ".tmp"
    binds = [arg for folder in writable for arg in ("--bind", str(folder), str(folder))]
    return [
        # the grader interrupts a cell by signalling the kernel's process group: bwrap must not die of
        # that SIGINT (the kernel, inside, sets its own handler); an ignored signal stays so across exec
        "/bin/sh", "-c", 'trap "" INT; exec "$@"', "sh",
        shutil.which("bwrap") or "bwrap",
        *_base(),
        *binds,
        "--size", size, "--tmpfs", str(work),
        "--ro-bind", str(notebook), str(work / notebook.name),
        # temporary files go to the box too; not a tmpfs over /tmp, which would hide a course, its
        # environment or the grader's folders that live below /tmp (a clone in /tmp, as CI's may be)
        "--dir", str(tmp),
        "--setenv", "TMPDIR", str(tmp),
        "--chdir", str(work),
        # bwrap's init is the kernel's parent (pid 1): ipykernel would take that for its parent's exit
        "--setenv", "JPY_PARENT_PID", "1",
        "--setenv", "IPYTHONDIR", str(tmp / "ipython"),
        "--setenv", "MPLCONFIGDIR", str(tmp / "matplotlib"),
        "--",
    ]  # fmt: skip


def kernel_manager(prefix: list[str], runtime: Path) -> object:
    """A kernel manager for this environment's Python that starts the kernel under ``prefix``
    (nothing for no sandbox) and talks to it over ``ipc`` sockets in ``runtime``."""
    from jupyter_client import AsyncKernelManager

    from . import kernel

    class Sandboxed(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            return [*prefix, *super().format_kernel_cmd(extra_arguments)]

    specs = kernel.current_env_kernel_manager().kernel_spec_manager  # type: ignore[attr-defined]
    return Sandboxed(
        kernel_name="python3",
        kernel_spec_manager=specs,
        transport="ipc",
        connection_file=str(runtime / "kernel.json"),
    )
