"""``coursekit grade`` on a class: ``--jobs 2`` and ``--shard i/n`` + ``--merge`` give exactly the
report of one ``--jobs 1`` run, and Ctrl-C stops a run with no kernel left behind.

The class is small (solved, untouched, broken, forging, unreadable), made from the same fixtures
as tests/test_grade.py; timings (``seconds``) are the only thing allowed to differ.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from test_grade import EXERCISES, ROOT, variants

from coursekit.course.cli import main
from coursekit.course.grade import Shard

TIMEOUT = 20
CLASS = {"solved": "ada", "empty": "bo", "broken": "cy", "forged_drain": "di"}  # fixture -> learner


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("class")
    notebooks = variants()
    for fixture, learner in CLASS.items():
        nbformat.write(notebooks[fixture], folder / f"{learner}.ipynb")
    (folder / "eve.ipynb").write_text("{ not a notebook", encoding="utf-8")
    return folder


def _grade(*args: str) -> dict[str, object]:
    """One ``coursekit grade`` run: its exit status, output, JSON (timings dropped) and CSV."""
    out, target = io.StringIO(), Path(args[-1])
    with contextlib.redirect_stdout(out):
        status = main(["grade", *args[:-1], "--json", str(target), "--csv", str(target.with_suffix(".csv"))])
    document = json.loads(target.read_text(encoding="utf-8"))
    for notebook in document["notebooks"]:
        notebook.pop("seconds")
    lines = out.getvalue().splitlines()
    return {
        "status": status,
        "progress": [ln for ln in lines if ln.startswith("[")],
        "table": "\n".join(ln for ln in lines if not ln.startswith("[")),
        "json": document,
        "csv": target.with_suffix(".csv").read_text(encoding="utf-8"),
    }


@pytest.fixture(scope="module")
def one_job(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("one")
    common = ["--timeout", str(TIMEOUT), "--exercises", str(EXERCISES)]
    return _grade(str(folder), *common, "--jobs", "1", str(out / "report.json"))


def test_the_class_is_graded_as_the_single_notebook_tests_expect(one_job: dict) -> None:
    notebooks = {Path(r["path"]).stem: r for r in one_job["json"]["notebooks"]}
    assert one_job["status"] == 1  # eve.ipynb cannot be graded
    assert [s["status"] for s in notebooks["ada"]["scores"]] == ["passed"] * 4
    assert [s["status"] for s in notebooks["bo"]["scores"]] == ["not attempted"] * 4
    assert notebooks["cy"]["scores"][0]["status"] == "error"
    assert notebooks["di"]["flagged"] and not notebooks["eve"]["graded"]


def test_two_jobs_give_the_report_of_one(folder: Path, one_job: dict, tmp_path: Path) -> None:
    common = ["--timeout", str(TIMEOUT), "--exercises", str(EXERCISES)]
    two = _grade(str(folder), *common, "--jobs", "2", str(tmp_path / "report.json"))
    for key in ("status", "json", "csv"):
        assert two[key] == one_job[key], key
    assert two["table"].split("notebook ", 1)[1] == one_job["table"].split("notebook ", 1)[1]
    # a line per notebook as each finishes, counted in the order they finish
    n = len(one_job["json"]["notebooks"])
    assert [ln.split("]")[0] for ln in two["progress"]] == [f"[{k}/{n}" for k in range(1, n + 1)]
    assert sorted(ln.split(" ")[1] for ln in two["progress"]) == sorted(
        ln.split(" ")[1] for ln in one_job["progress"]
    )


def test_shards_then_merge_give_the_report_of_one_run(folder: Path, one_job: dict, tmp_path: Path) -> None:
    names = [p.name for p in sorted(folder.glob("*.ipynb"))]
    shards = [Shard(1, 2), Shard(2, 2)]
    assert all(any(s.holds(Path(n)) for n in names) for s in shards)  # neither shard is empty
    common = ["--timeout", str(TIMEOUT), "--exercises", str(EXERCISES), "--jobs", "1"]
    reports = []
    for shard in shards:
        report = tmp_path / f"shard{shard.index}.json"
        graded = _grade(str(folder), *common, "--shard", f"{shard.index}/2", str(report))
        assert len(graded["json"]["notebooks"]) == sum(shard.holds(Path(n)) for n in names)
        reports.append(str(report))
    merged = _grade("--merge", *reversed(reports), str(tmp_path / "class.json"))
    for key in ("status", "json", "csv", "table"):
        assert merged[key] == one_job[key], key


def test_a_shard_is_chosen_by_file_name_alone() -> None:
    names = [f"learner{k}.ipynb" for k in range(40)]
    parts = [[n for n in names if Shard(i, 3).holds(Path(n))] for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(names)  # each notebook in exactly one shard
    assert all(parts)
    assert Shard(2, 3).holds(Path("a/learner7.ipynb")) == Shard(2, 3).holds(Path("b/learner7.ipynb"))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--shard", "3/2"], "1 <= i <= n"),
        (["--shard", "half"], "i/n"),
        (["--jobs", "0"], "--jobs"),
    ],
)
def test_bad_class_options_exit_2_and_say_why(folder: Path, capsys, args: list[str], says: str) -> None:
    assert main(["grade", str(folder), *args]) == 2
    assert says in capsys.readouterr().err


def test_merge_refuses_a_missing_shard(folder: Path, tmp_path: Path, capsys) -> None:
    shard = {"notebooks": [], "summary": {}, "shard": {"index": 1, "of": 2, "class": 5, "positions": []}}
    (tmp_path / "one.json").write_text(json.dumps(shard), encoding="utf-8")
    assert main(["grade", "--merge", str(tmp_path / "one.json")]) == 2
    assert "missing [2]" in capsys.readouterr().err


def _kernels_under(pid: int) -> set[int]:
    """The ipykernel processes descended from ``pid`` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])

    def descends(p: int) -> bool:
        for _ in range(10):
            p = parents.get(p, 0)
            if p == pid:
                return True
        return False

    found = set()
    for p in parents:
        with contextlib.suppress(OSError):
            if descends(p) and b"ipykernel" in Path(f"/proc/{p}/cmdline").read_bytes():
                found.add(p)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_stops_the_class_and_leaves_no_kernel(folder: Path, jobs: int) -> None:
    command = [sys.executable, "-m", "coursekit.course.cli", "grade", str(folder), "--jobs", str(jobs)]
    command += ["--exercises", str(EXERCISES)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    kernels: set[int] = set()
    deadline = time.monotonic() + 120
    while len(kernels) < jobs and time.monotonic() < deadline and process.poll() is None:
        kernels |= _kernels_under(process.pid)
        time.sleep(0.2)
    assert len(kernels) >= jobs, "the kernels never started"
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err.decode()
    assert "stopped" in err.decode() and "Traceback" not in err.decode()
    # at once: each kernel was shut down before the command returned (ipykernel would also end an
    # orphaned kernel, but only at its next poll of its parent, a while later)
    assert not [k for k in kernels if _alive(k)], "a kernel outlived the command"
