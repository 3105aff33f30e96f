"""Seeded experiments give the same numbers on every run, whatever the thread setting."""

import pytest
import torch

from coursekit.experiments import ShortcutConfig, run_shortcuts
from coursekit.seeding import seed_everything, torch_threads


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="positive int"):
        with torch_threads(0):
            pass


def test_an_experiment_gives_the_same_numbers_whatever_the_callers_threads():
    config = ShortcutConfig(depth=6, epochs=2)
    results = []
    for threads in (2, 1, 2):
        with torch_threads(threads):
            results.append(run_shortcuts(config, progress_bar=False).final_loss)
            assert torch.get_num_threads() == threads  # the experiment restored it
    assert results[0] == results[1] == results[2]


def test_seed_everything_repeats_random_draws():
    seed_everything(3)
    first = torch.randn(4)
    generator = seed_everything(3)
    torch.testing.assert_close(torch.randn(4), first)
    torch.testing.assert_close(torch.randn(4, generator=generator), first)
