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

from coursekit.course import cli
from coursekit.course.bench import BenchConfig
from coursekit.data import load_digits

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

TINY = ["--steps", "2", "--depth", "2", "--width", "8", "--repeats", "1"]


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
    assert any(line.startswith("speed-up of batched over loop") for line in lines)
    assert any(line.startswith("batched matmul throughput") for line in lines)
    assert lines[-1].startswith("summary: batched ") and "faster than the loop" in lines[-1]


@pytest.mark.parametrize(
    "argv, says",
    [
        (["bench", "--skip-experiments", *TINY, "--threads", "0"], "--threads"),
        (["bench", "--skip-experiments", *TINY, "--steps", "-1"], "--steps"),
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
    config = BenchConfig(variants=2, depth=3, width=16, batch_size=32)
    assert _benchmark("kernel_floor").check_gradient(config, load_digits()) < 1e-5  # raises if larger


def test_the_widget_benchmark_moves_every_control_away_from_its_value():
    probes = _benchmark("widgets").probes
    assert probes(ipywidgets.IntSlider(value=8, min=2, max=52, step=1)) == [2, 27, 52]
    assert probes(ipywidgets.IntSlider(value=2, min=2, max=64, step=2)) == [34, 64]
    assert probes(ipywidgets.FloatSlider(value=-1.0, min=-8, max=0, step=1)) == [-8, -4, 0]
    toggle = ipywidgets.ToggleButtons(options=[("ReLU", "relu"), ("GELU", "gelu")], value="relu")
    assert probes(toggle) == ["gelu"]
    assert probes(ipywidgets.Dropdown(options=["a", "b", "c"], value="b")) == ["a", "c"]
    assert probes(ipywidgets.Checkbox(value=False)) == [True]
