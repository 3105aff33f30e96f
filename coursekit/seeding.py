"""Seeding and device helpers: the same numbers on every run, CPU unless a GPU is there."""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import torch

P = ParamSpec("P")
R = TypeVar("R")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's and PyTorch's global generators; return a ``torch.Generator`` seeded too.

    Every experiment and check calls this first, so a notebook prints the same numbers on
    every run on the same machine.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_device(prefer: str | None = None) -> torch.device:
    """``cuda`` when a GPU is available (or ``prefer`` names a device), else ``cpu``.

    The course is built for the CPU; a GPU only makes the same code faster.
    """
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} was asked for, but no CUDA GPU is available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the ``with`` body on ``n`` PyTorch intra-op threads, then restore the setting."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of threads must be a positive int, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_threaded(experiment: Callable[P, R]) -> Callable[P, R]:
    """Run ``experiment`` on one PyTorch thread.

    The course's models are small, so their matmuls are overhead-bound: one thread is as
    fast as several (often faster on a shared machine). And a seeded run then gives the same
    numbers whatever the machine's core count, because the thread count changes the order
    in which floating-point sums are added, and training amplifies the difference.
    """

    @functools.wraps(experiment)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with torch_threads(1):
            return experiment(*args, **kwargs)

    return run
