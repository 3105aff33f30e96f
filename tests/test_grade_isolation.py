"""``coursekit grade`` on a class with hostile learners in it (issue 21): one learner's notebook
cannot lose, change or re-score another's, nor leave the library changed.

The class: three honest notebooks (two solved, one untouched) and five hostile ones, each the
untouched exercise plus one cell that deletes classmates' notebooks by relative paths, deletes
and edits them by absolute paths, rewrites the library, the grader's own files and the pristine
exercise, leaves a process behind that keeps doing so, or fills its working folder. It is graded
as a real instructor would (``coursekit grade`` in a process of its own, with the course library
installed in a folder of the test's, so that rewriting "the installed library" is safe here):
without a sandbox in two orders (the second with ``--jobs 2``), and under bubblewrap where it runs
(required where ``COURSEKIT_SANDBOX_TEST=required``, as in CI; skipped with the reason elsewhere).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_grade import ROOT, _insert_after, _read

from coursekit.course.grade import isolation, sandbox

TIMEOUT = 20
CHECKS = 4
HONEST = {"ada": "solutions", "bo": "exercises", "cy": "solutions"}
MARK = "coursekit-isolation-test-background"  # in the leftover process's command line, to find it
SABOTAGE = "\n\ndef check_layer_norm(*args, **kwargs):\n    raise RuntimeError('sabotaged')\n"

# each a cell added after the imports of the untouched exercise; CLASS and LIB are filled in
HOSTILE = {
    "hostile_relative": (
        "import glob, os\n"
        "for up in range(4):\n"
        "    for path in glob.glob('../' * up + '*.ipynb') + glob.glob('../' * up + '*/*.ipynb'):\n"
        "        try:\n            os.remove(path)\n        except OSError:\n            pass\n"
    ),
    "hostile_absolute": (
        "import glob, os, pathlib\n"
        "for path in glob.glob(CLASS + '/*.ipynb'):\n"
        "    try:\n"
        "        if path.endswith('ada.ipynb'):\n"
        "            pathlib.Path(path).write_text('{}')\n"
        "        else:\n            os.remove(path)\n"
        "    except OSError:\n        pass\n"
    ),
    "hostile_library": (
        "import pathlib, coursekit\n"
        "pristine = pathlib.Path(coursekit.__file__).parents[1]\n"
        "for root in (pristine, pathlib.Path(LIB)):\n"
        "    for name, tail in (('coursekit/checks/norms.py', SABOTAGE),\n"
        "                       ('coursekit/course/grade/guard.py', '\\nraise SystemExit(1)\\n')):\n"
        "        try:\n"
        "            path = root / name\n"
        "            path.write_text(path.read_text() + tail)\n"
        "            (root / 'exercises' / EXERCISE).write_text('{}')\n"
        "        except OSError:\n            pass\n"
    ),
    "hostile_background": (
        "import subprocess, sys, coursekit\n"
        "code = '''\nimport glob, os, pathlib, time\nfor _ in range(600):\n    time.sleep(0.3)\n"
        "    for path in glob.glob(CLASS + '/*.ipynb'):\n"
        "        try:\n            os.remove(path)\n        except OSError:\n            pass\n"
        "    for path in (pathlib.Path(PRISTINE), pathlib.Path(LIB) / 'coursekit/checks/norms.py'):\n"
        "        try:\n"
        "            if 'sabotaged' not in path.read_text():\n"
        "                path.write_text(path.read_text() + SABOTAGE)\n"
        "        except OSError:\n            pass\n'''\n"
        "code = f'CLASS, LIB, SABOTAGE, PRISTINE = {CLASS!r}, {LIB!r}, {SABOTAGE!r}, "
        '{coursekit.__file__.replace("__init__", "checks/norms")!r}\' + code\n'
        "subprocess.Popen([sys.executable, '-c', code, MARK], start_new_session=True,\n"
        "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    ),
    "hostile_disk": (
        "chunk = b'0' * 2**24\n"
        "try:\n"
        "    with open('filler.bin', 'wb') as f:\n"
        "        for _ in range(20):  # 320 MB, more than the sandbox's 256\n"
        "            f.write(chunk)\n            f.flush()\n"
        "except OSError as e:\n    print('stopped:', e)\n"
    ),
}


def _exercise_name() -> str:
    """The layer norm exercise's file name (exercises were renamed once; found by glob)."""
    return next(p.name for p in sorted((ROOT / "exercises").glob("*02_layer_norm.ipynb")))


def _installed(tmp: Path) -> Path:
    """The course library 'installed' in a folder of the test's: coursekit/ and exercises/."""
    lib = tmp / "lib"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "coursekit", lib / "coursekit", ignore=ignore)
    shutil.copytree(ROOT / "exercises", lib / "exercises", ignore=ignore)
    return lib


def _write_class(folder: Path, lib: Path) -> None:
    folder.mkdir()
    for name, source in HONEST.items():
        nbformat.write(_read(source), folder / f"{name}.ipynb")
    values = {
        "CLASS": str(folder),
        "LIB": str(lib),
        "SABOTAGE": SABOTAGE,
        "EXERCISE": _exercise_name(),
        "MARK": MARK,
    }
    header = "".join(f"{k} = {v!r}\n" for k, v in values.items())
    for name, source in HOSTILE.items():
        nb = _read("exercises")
        _insert_after(nb, "imports", header + source)
        nbformat.write(nb, folder / f"{name}.ipynb")


def _grade(tmp: Path, sandbox_level: str, order: list[str], jobs: int = 1) -> dict:
    """One ``coursekit grade`` run in a process of its own; what it left behind, read back."""
    lib = _installed(tmp)
    folder = tmp / "class"
    _write_class(folder, lib)
    originals = {p.name: p.read_bytes() for p in folder.iterdir()}
    for name in ("tmp", "run"):
        (tmp / name).mkdir()
    env = {**os.environ, "PYTHONPATH": str(lib), "TMPDIR": str(tmp / "tmp")}
    command = [sys.executable, "-m", "coursekit.course.cli", "grade", "--sandbox", sandbox_level]
    command += ["--jobs", str(jobs), "--timeout", str(TIMEOUT), "--json", str(tmp / "report.json")]
    command += [str(folder / f"{name}.ipynb") for name in order]
    done = subprocess.run(command, env=env, cwd=tmp / "run", capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads((tmp / "report.json").read_text(encoding="utf-8"))
    return {
        "stdout": done.stdout,
        "stderr": done.stderr,
        "reports": {Path(r["path"]).stem: r for r in document["notebooks"]},
        "isolation": document["isolation"],
        "folder": folder,
        "originals": originals,
        "lib": lib,
        "jobs": jobs,
    }


def _order() -> list[str]:
    return ["ada", *HOSTILE, "bo", "cy"]


@pytest.fixture(scope="module")
def unsandboxed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _grade(tmp_path_factory.mktemp("none"), "none", _order())


@pytest.fixture(scope="module")
def unsandboxed_reversed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _grade(tmp_path_factory.mktemp("none-reversed"), "none", _order()[::-1], jobs=2)


def _require_bwrap() -> None:
    why = sandbox.bwrap_works()
    if not why:
        return
    if os.environ.get("COURSEKIT_SANDBOX_TEST") == "required":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    _require_bwrap()
    return _grade(tmp_path_factory.mktemp("bwrap"), "bwrap", _order())


RUNS = ["unsandboxed", "unsandboxed_reversed", "sandboxed"]


@pytest.fixture(params=RUNS)
def run(request: pytest.FixtureRequest) -> dict:
    return request.getfixturevalue(request.param)


def _statuses(run: dict, name: str) -> list[str]:
    return [s["status"] for s in run["reports"][name]["scores"]]


def test_every_honest_notebook_gets_its_honest_score(run: dict) -> None:
    assert _statuses(run, "ada") == ["passed"] * CHECKS
    assert _statuses(run, "cy") == ["passed"] * CHECKS
    assert _statuses(run, "bo") == ["not attempted"] * CHECKS
    for name in HONEST:
        flags = run["reports"][name]["flags"]
        if run["jobs"] > 1:  # a classmate's notebook deleted while two ran: both are named
            flags = [f for f in flags if not f.startswith(isolation.CULPRIT + " (one of the 2")]
        assert flags == [], name


def test_every_hostile_notebook_is_flagged_and_scores_what_its_stubs_score(run: dict) -> None:
    for name in HOSTILE:
        assert run["reports"][name]["flags"], name
        assert _statuses(run, name) == ["not attempted"] * CHECKS, name


def test_the_order_of_grading_changes_no_score(unsandboxed: dict, unsandboxed_reversed: dict) -> None:
    for name in [*HONEST, *HOSTILE]:
        assert _statuses(unsandboxed, name) == _statuses(unsandboxed_reversed, name), name


def test_no_notebook_is_lost(run: dict) -> None:
    """Each notebook is where it was, byte for byte, or its original is in the recovery folder
    the report names, and a loud line on stderr says so."""
    recovery = run["isolation"]["recovery"]
    for name, data in run["originals"].items():
        path = run["folder"] / name
        if path.is_file() and path.read_bytes() == data:
            continue
        assert recovery, f"{name} changed and nothing was kept"
        kept = Path(recovery) / str(path.resolve()).lstrip(os.sep)
        assert kept.read_bytes() == data, name
        assert f"{path}" in run["stderr"] and "⚠" in run["stderr"]


def test_without_a_sandbox_the_losses_are_reported_and_the_culprits_named(unsandboxed: dict) -> None:
    events = unsandboxed["isolation"]["events"]
    lost = {Path(e["path"]).name for e in events if e["kind"] == isolation.SUBMISSION}
    assert {"ada.ipynb", "bo.ipynb", "cy.ipynb"} <= lost
    culprits = {name for e in events for name in e["running"]}
    assert culprits <= {f"{name}.ipynb" for name in HOSTILE}
    flags = " ".join(unsandboxed["reports"]["hostile_library"]["flags"])
    assert "pristine library" in flags and "installed course library" in flags
    assert "⚠" in unsandboxed["stdout"] and "sandbox: none" in unsandboxed["stdout"]
    assert "its working folder held 320 MB" in " ".join(unsandboxed["reports"]["hostile_disk"]["flags"])


def test_the_library_and_the_grader_are_left_as_they_were(run: dict) -> None:
    for part in ("coursekit", "exercises"):
        installed = isolation.read_tree(run["lib"] / part)
        assert installed == isolation.read_tree(ROOT / part), part


def test_no_process_a_notebook_started_outlives_grading(run: dict) -> None:
    left = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if MARK.encode() in (entry / "cmdline").read_bytes():
                left.append(entry.name)
        except OSError:
            pass
    for pid in left:  # do not leave it running on a shared machine, then fail
        os.kill(int(pid), 9)
    assert not left


def test_the_sandbox_leaves_the_class_folder_untouched(sandboxed: dict) -> None:
    for name, data in sandboxed["originals"].items():
        assert (sandboxed["folder"] / name).read_bytes() == data, name
    assert sandboxed["isolation"]["sandbox"] == "bwrap"
    assert sandboxed["isolation"]["events"] == []
    assert "sandbox: bwrap" in sandboxed["stdout"]


def test_auto_falls_back_to_no_sandbox_and_bwrap_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.bwrap_works.cache_clear()
    try:
        assert sandbox.choose("auto") == "none"
        with pytest.raises(sandbox.SandboxError, match="bubblewrap"):
            sandbox.choose("bwrap")
        why = sandbox.bwrap_works()
        table = isolation.format_isolation({"sandbox": "none", "events": [], "why_not_bwrap": why})
        assert "sandbox: none" in table and "apt install bubblewrap" in table
    finally:
        sandbox.bwrap_works.cache_clear()


def test_custody_keeps_what_it_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without kernels: a notebook deleted, one edited, a library file changed and one added."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "class").mkdir()
    notebooks = {tmp_path / "class" / f"{n}.ipynb": f"notebook {n}".encode() for n in "abc"}
    for path, data in notebooks.items():
        path.write_bytes(data)
    lib, exercises = tmp_path / "lib", tmp_path / "exercises"
    for folder in (lib, exercises):
        folder.mkdir()
        (folder / "x.py").write_text("x = 1\n")
    custody = isolation.Custody.start(dict(notebooks), lib, exercises)
    try:
        assert custody.settle(["nobody"]) == []
        a, b = list(notebooks)[:2]
        a.unlink()
        b.write_bytes(b"edited")
        (lib / "x.py").write_text("x = 2\n")
        (lib / "evil.py").write_text("")
        (custody.course / "coursekit" / "x.py").write_text("x = 3\n")
        changes = custody.settle(["c.ipynb"])
        assert {(c.path.name, c.how) for c in changes} == {
            ("a.ipynb", "missing"),
            ("b.ipynb", "changed"),
            ("x.py", "changed"),
            ("evil.py", "added"),
        }
        assert not a.exists() and b.read_bytes() == b"edited"  # learners' files: never put back
        assert (custody.recovery / str(a).lstrip(os.sep)).read_bytes() == notebooks[a]
        assert (custody.recovery / str(b).lstrip(os.sep)).read_bytes() == notebooks[b]
        assert isolation.read_tree(lib) == {"x.py": b"x = 1\n"}  # the library: put back
        assert (custody.course / "coursekit" / "x.py").read_text() == "x = 1\n"
        assert custody.settle([]) == []  # reported once
    finally:
        custody.finish()
    assert not custody.run_dir.exists()


def test_the_originals_go_to_the_temp_folder_when_the_working_folder_cannot_hold_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "temp").mkdir()
    monkeypatch.setattr(isolation.tempfile, "tempdir", str(tmp_path / "temp"))
    notebook = tmp_path / "a.ipynb"
    notebook.write_bytes(b"original")
    (tmp_path / "lib").mkdir()
    custody = isolation.Custody.start({notebook: b"original"}, tmp_path / "lib", tmp_path / "lib")
    (tmp_path / "a-file").write_text("")
    custody.recovery_parent = tmp_path / "a-file"  # no folder can be made in a file (root or not)
    try:
        notebook.unlink()
        custody.settle(["b.ipynb"])
        assert custody.recovery is not None and custody.recovery.parent == tmp_path / "temp"
        assert (custody.recovery / notebook.relative_to(notebook.anchor)).read_bytes() == b"original"
    finally:
        custody.finish()


def test_with_several_running_a_loss_names_them_all_and_a_library_change_grades_them_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The --jobs > 1 bookkeeping, without kernels: who is flagged, who is graded again alone."""
    monkeypatch.chdir(tmp_path)
    notebooks = {tmp_path / f"{n}.ipynb": n.encode() for n in "abc"}
    for path, data in notebooks.items():
        path.write_bytes(data)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "x.py").write_text("x = 1\n")
    custody = isolation.Custody.start(dict(notebooks), tmp_path / "lib", tmp_path / "lib")
    watch = isolation.Watch(custody, ["a.ipynb", "b.ipynb", "c.ipynb"])
    try:
        (tmp_path / "lib" / "x.py").write_text("x = 2\n")
        watch.check([0, 1])
        assert watch.again == {0, 1} and watch.flags == {}  # who did it is found by grading alone
        (tmp_path / "c.ipynb").unlink()
        watch.check([1, 2])
        assert watch.again == {0, 1}
        assert set(watch.flags) == {1, 2} and "(one of the 2 being graded then" in watch.flags[1][0]
        (tmp_path / "lib" / "x.py").write_text("x = 3\n")
        watch.check([2])  # alone: the culprit
        assert len(watch.flags[2]) == 2 and isolation.LIBRARY in watch.flags[2][1]
    finally:
        custody.finish()
