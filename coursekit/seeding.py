"""Seeding and device helpers: the same numbers on every run, CPU unless a GPU is there."""

from __future__ import annotations

import random

import torch


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
