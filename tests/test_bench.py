"""``coursekit bench`` runs end to end at tiny sizes (its timings are not tested: speed is shown
by the benchmark itself, not by timed tests)."""

from collections.abc import Iterator

import pytest
import torch

from coursekit.course import cli

TINY = ["--steps", "2", "--depth", "2", "--width", "8", "--repeats", "1"]


@pytest.fixture(autouse=True)
def _threads_kept() -> Iterator[None]:
    """The bench sets PyTorch's thread count for the whole process; later tests keep theirs."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


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
