"""How fast ``coursekit grade`` grades a class: notebooks per minute at 1 job and at N jobs.

A class of N submissions of one exercise is generated from its solution and its exercise, in
five kinds dealt in turn: solved, wrong (a LayerNorm with the unbiased variance), broken (its
forward raises), untouched (the stubs) and forging (a cell that patches the checks). The class
is graded with each ``--jobs`` value; the scores must be the same at every value (checked), and
the wall-clock time, notebooks per minute and the speed-up over one job are printed. Wall-clock
time is what an instructor waits for, so it is what is measured: on a machine shared with other
work the numbers are lower than on an idle one (run it idle to compare machines).

    .venv/bin/python benchmarks/grade_class.py [--notebooks 100] [--jobs 1,4] [--timeout 60]
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from coursekit.course.grade import default_jobs, grade

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = "exercise_02_layer_norm"
KINDS = ("solved", "wrong", "broken", "untouched", "forging")
UNBIASED = (
    "        mean = x.mean(-1, keepdim=True)\n"
    "        var = x.var(-1, keepdim=True)  # unbiased: the wrong n - 1\n"
    "        return (x - mean) / (var + self.eps).sqrt() * self.weight + self.bias\n"
)
FORGE = "import coursekit.checks.norms\ncoursekit.checks.norms._norm_check = lambda *a, **k: None"


def _cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.get("id") == cell_id)


def _forward(nb: nbformat.NotebookNode, body: str) -> nbformat.NotebookNode:
    """``nb`` with the body of LayerNorm's forward replaced."""
    nb = copy.deepcopy(nb)
    cell = _cell(nb, "ln-solution")
    cell.source = cell.source.split("    def forward")[0] + "    def forward(self, x):\n" + body
    return nb


def submission(kind: str) -> nbformat.NotebookNode:
    """One learner's notebook of the given kind."""
    solved = nbformat.read(ROOT / "solutions" / f"{EXERCISE}.ipynb", as_version=4)
    untouched = nbformat.read(ROOT / "exercises" / f"{EXERCISE}.ipynb", as_version=4)
    if kind == "solved":
        nb = solved
    elif kind == "wrong":
        nb = _forward(solved, UNBIASED)
    elif kind == "broken":
        nb = _forward(solved, "        return x / self.scale\n")
    elif kind == "untouched":
        nb = untouched
    else:
        nb = copy.deepcopy(untouched)
        at = nb.cells.index(_cell(nb, "imports")) + 1
        nb.cells.insert(at, nbformat.v4.new_code_cell(FORGE, id="forging"))
    nb.metadata["coursekit"] = {"exercise": EXERCISE}
    return nb


def make_class(folder: Path, n: int) -> list[str]:
    """``n`` submissions in ``folder``, the kinds dealt in turn; their kinds, in file-name order."""
    kinds = [KINDS[k % len(KINDS)] for k in range(n)]
    for k, kind in enumerate(kinds):
        nbformat.write(submission(kind), folder / f"learner{k:04d}.ipynb")
    return kinds


def timed(folder: Path, jobs: int, timeout: int) -> tuple[float, list]:
    """Grade the class with ``jobs`` at a time: (wall-clock seconds, the reports)."""
    start = time.perf_counter()
    reports = grade([str(folder)], ROOT / "exercises", timeout, log=sys.stderr, jobs=jobs)
    return time.perf_counter() - start, reports


def by_kind(kinds: list[str], reports: list) -> str:
    """Each kind's scores, e.g. ``solved 4/4, forging 0/4 flagged`` (every distinct one, if they differ)."""
    seen: dict[str, list[str]] = {}
    for kind, r in zip(kinds, reports, strict=True):
        score = f"{r.passed}/{len(r.scores)}" + (" flagged" if r.flags else "") if r.graded else r.problem
        if score not in seen.setdefault(kind, []):
            seen[kind].append(score)
    return ", ".join(f"{kind} {' or '.join(scores)}" for kind, scores in seen.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=int, default=100, help="submissions in the class (default 100)")
    parser.add_argument(
        "--jobs", default=f"1,{default_jobs()}", help="comma-separated --jobs values (default 1,cores)"
    )
    parser.add_argument("--timeout", type=int, default=60, help="seconds a cell may run (default 60)")
    args = parser.parse_args(argv)
    jobs = sorted({int(j) for j in args.jobs.split(",")})
    if args.notebooks < 1 or jobs[0] < 1:
        parser.error(f"--notebooks and --jobs must be at least 1, got {args.notebooks} and {args.jobs}")
    with tempfile.TemporaryDirectory() as tmp:
        kinds = make_class(Path(tmp), args.notebooks)
        counts = ", ".join(f"{kinds.count(k)} {k}" for k in KINDS if k in kinds)
        print(f"a class of {args.notebooks} notebooks ({counts}) of {EXERCISE}")
        rows, first = [], None
        for j in jobs:
            seconds, reports = timed(Path(tmp), j, args.timeout)
            scores = [[(s.check, s.status) for s in r.scores] + [bool(r.flags)] for r in reports]
            if first is not None and scores != first:
                print(f"--jobs {j} gave other scores than --jobs {jobs[0]}", file=sys.stderr)
                return 1
            first = scores
            rows.append((j, seconds))
    print("scores by kind: " + by_kind(kinds, reports))
    print(f"{'jobs':>4}  {'wall s':>7}  {'notebooks/min':>13}  {'speed-up':>8}")
    for j, seconds in rows:
        print(
            f"{j:>4}  {seconds:>7.1f}  {60 * args.notebooks / seconds:>13.1f}  {rows[0][1] / seconds:>7.2f}x"
        )
    print("the same scores and flags at every --jobs value")
    return 0


if __name__ == "__main__":
    sys.exit(main())
