"""The benchmarks run and measure what they say (their timings are not tested: speed is shown
by the benchmarks themselves, not by timed tests)."""

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import ipywidgets
import pytest
import torch

from coursekit.course import cli, machine
from coursekit.course.bench import BenchConfig
from coursekit.data import load_digits

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

TINY = ["--steps", "2", "--depth", "2", "--width", "8", "--repeats", "1", "--factor", "2"]


@pytest.fixture(autouse=True)
def _threads_kept() -> Iterator[None]:
    """The bench sets PyTorch's thread count for the whole process; later tests keep theirs."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks.{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_bench_prints_its_table_and_ends_with_the_summary(capsys):
    assert cli.main(["bench", "--skip-experiments", *TINY]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].startswith("machine: ") and "2.00x the reference machine's speed (given)" in lines[1]
    assert (
        lines[2]
        == "budgets here (on the reference): experiment < 9.25 s (18.5 s), degradation sweep < 18.5 s (37 s)"
    )
    assert any(line.startswith("speed-up of batched over loop") for line in lines)
    share = next(line for line in lines if line.startswith("batched speed-up as a share of the floor's"))
    assert ">= 85%" in share
    assert any(line.startswith("batched matmul throughput") for line in lines)
    assert lines[-1].startswith("summary: batched ") and "faster than the loop" in lines[-1]
    assert "of the kernel floor's" in lines[-1] and "2.00x the reference's speed" in lines[-1]


@pytest.mark.parametrize(
    "argv, says",
    [
        (["bench", "--skip-experiments", *TINY, "--threads", "0"], "--threads"),
        (["bench", "--skip-experiments", *TINY, "--steps", "-1"], "--steps"),
        (["bench", "--skip-experiments", *TINY, "--factor", "0"], "--factor"),
        (["bench", *TINY, "--no-breakdown", "--experiments", "no_such_experiment"], "no_such_experiment"),
    ],
)
def test_bench_refuses_bad_arguments_and_names_them(argv, says, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code not in (0, None)
    assert says in f"{stop.value.code} {capsys.readouterr().err}"


def test_the_kernel_floor_benchmark_times_the_real_gradient():
    """benchmarks/kernel_floor.py writes the digits step's gradient by hand to time its kernels
    alone; its gradient must be autograd's through the trainer's stacked forward, or the ceiling
    it reports is the ceiling of some other computation."""
    from coursekit.course.bench import _variants
    from coursekit.course.kernel_floor import check_gradient

    models = _variants(BenchConfig(variants=2, depth=3, width=16, batch_size=32))
    assert check_gradient(models, load_digits(), batch_size=32) < 1e-5  # raises if larger


def test_the_widget_benchmark_moves_every_control_away_from_its_value():
    probes = _benchmark("widgets").probes
    assert probes(ipywidgets.IntSlider(value=8, min=2, max=52, step=1)) == [2, 27, 52]
    assert probes(ipywidgets.IntSlider(value=2, min=2, max=64, step=2)) == [34, 64]
    assert probes(ipywidgets.FloatSlider(value=-1.0, min=-8, max=0, step=1)) == [-8, -4, 0]
    toggle = ipywidgets.ToggleButtons(options=[("ReLU", "relu"), ("GELU", "gelu")], value="relu")
    assert probes(toggle) == ["gelu"]
    assert probes(ipywidgets.Dropdown(options=["a", "b", "c"], value="b")) == ["a", "c"]
    assert probes(ipywidgets.Checkbox(value=False)) == [True]


def test_the_factor_is_the_geometric_mean_of_the_two_speed_ratios():
    assert machine.Speed(machine.REFERENCE_OP_US, machine.REFERENCE_LOOP_S).factor == pytest.approx(1.0)
    twice = machine.Speed(machine.REFERENCE_OP_US / 2, machine.REFERENCE_LOOP_S / 2)
    assert twice.factor == pytest.approx(2.0)
    assert twice.budget(60.0) == pytest.approx(30.0)  # a faster machine gets less time
    mixed = machine.Speed(machine.REFERENCE_OP_US / 4, machine.REFERENCE_LOOP_S)  # ops 4x, Python 1x
    assert mixed.factor == pytest.approx(2.0)
    slower = machine.Speed(machine.REFERENCE_OP_US * 2, machine.REFERENCE_LOOP_S * 2)
    assert slower.budget(1.0) == pytest.approx(2.0)  # a slower machine gets more
    assert machine.Speed.of_factor(3.7).factor == pytest.approx(3.7) and machine.Speed.of_factor(3.7).given
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="factor"):
            machine.Speed.of_factor(bad)


def test_the_speed_probes_turn_their_clock_into_the_reference_units():
    """Each round reads the clock twice; a clock that advances 1 s per read makes every round
    last 1 s, so the arithmetic, not the machine, sets the answer."""
    ticks = iter(range(10**6))
    clock = lambda: float(next(ticks))  # noqa: E731
    assert machine.op_us(rounds=3, ops=1000, clock=clock) == pytest.approx(1e3)  # 1 s / 1000 ops
    assert machine.loop_s(rounds=2, steps=1000, clock=clock) == pytest.approx(machine.LOOP_STEPS / 1000)


def test_the_budgets_line_names_each_budget_here_and_on_the_reference():
    line = machine.budgets_line(machine.Speed.of_factor(4.0), ["lesson", "course", "widget move"])
    assert line == (
        "budgets here (on the reference): "
        "lesson < 15 s (60 s), course < 75 s (300 s), widget move < 0.25 s (1 s)"
    )
    assert "(given)" in machine.describe(machine.Speed.of_factor(4.0))
    assert machine.cpu_name() and "cores" in machine.cores()


def test_the_course_benchmark_applies_each_notebooks_budget_scaled():
    course = _benchmark("course")
    assert course.time_budget("notebooks/03_mlp_block.ipynb") == "lesson"
    assert course.time_budget("notebooks/08_capstone.ipynb") == "capstone lesson (08)"
    assert course.time_budget("solutions/exercise_05_skip_vs_noskip.ipynb") == "solution 05"
    assert course.time_budget("solutions/exercise_03_mlp.ipynb") is None  # counted in the course's total only
    speed = machine.Speed.of_factor(2.0)  # lesson 30 s, capstone 90 s, solution 05 10 s here
    row = {"notebook": "notebooks/03_mlp_block.ipynb", "seconds": 29.0, "peak_mb": 500.0, "error": ""}
    assert course.verdict(row, speed) == "ok"
    assert course.verdict(row | {"seconds": 31.0}, speed) == "OVER 30 s"
    assert course.verdict(row | {"notebook": "notebooks/08_capstone.ipynb", "seconds": 89.0}, speed) == "ok"
    solution_05 = row | {"notebook": "solutions/exercise_05_skip_vs_noskip.ipynb", "seconds": 11.0}
    assert course.verdict(solution_05, speed) == "OVER 10 s"
    assert course.verdict(row | {"peak_mb": 2000.0}, speed) == "OVER 1 GB"


def test_the_course_benchmark_names_a_long_cell_without_a_progress_bar():
    course = _benchmark("course")

    def cell(seconds: float) -> dict:
        timing = {"iopub.status.busy": "2026-12-03T08:00:00.000000Z"}
        timing["shell.execute_reply"] = f"2026-12-03T08:00:{seconds:09.6f}Z"
        return {"cell_type": "code", "metadata": {"execution": timing}}

    imports = cell(4.0) | {"source": "%matplotlib inline\nimport torch\nfrom coursekit import plots\n"}
    own = [cell(0.2), {"cell_type": "markdown", "metadata": {}}, cell(3.5), cell(9.0), cell(0.0), imports]
    nb = {"cells": [cell(6.0), *own]}  # first, the start-up cell: PyTorch's import, never flagged
    assert course.cell_seconds(nb["cells"][3]) == 3.5
    assert course.silent_cells(nb, bars={4: 1}, limit_s=1.0) == [(2, 3.5)]  # the file's cell 3 showed its bar
    assert course.silent_cells(nb, bars={}, limit_s=5.0) == [(3, 9.0)]  # numbered as in the file
    assert course.silent_cells(nb, bars={}, limit_s=3.0) == [(2, 3.5), (3, 9.0)]  # imports only: not held
    assert course.only_imports("import torch\nfrom torch import nn")
    assert not course.only_imports("import torch\nx = 1")
    row = {"notebook": "notebooks/03_mlp_block.ipynb", "seconds": 1.0, "peak_mb": 5.0, "error": ""}
    verdict = course.verdict(row | {"silent_cells": ["cell 2 (3.5 s)"]}, machine.Speed.of_factor(1.0))
    assert verdict == "NO PROGRESS BAR: cell 2 (3.5 s)"
