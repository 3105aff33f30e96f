"""Tasks for the experiments, all offline and seeded: digits, digit sorting, a 1-D grid.

- ``digits``: the 8×8 handwritten digits that ship inside scikit-learn (no download), the
  real-data task for the degradation and lesion experiments (He et al. 2015; Veit et al. 2016).
- ``sort``: sort a short sequence of digits, a task a transformer must mix tokens to solve
  (the warm-up experiment, Xiong et al. 2020). Chance loss is ``ln(vocab)``.
- :func:`make_grid`: evenly spaced scalar inputs for the shattered-gradients probe
  (Balduzzi et al. 2017).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy
import torch

from .validate import require_positive_float, require_positive_int

TASKS = ("digits", "sort")


@dataclass(frozen=True)
class Task:
    """A classification task: ``x -> y`` with integer targets, split into train and test.

    Targets are class indices, either one per example ``(n,)`` or one per position
    ``(n, seq)``; a model's logits end in ``n_classes``.
    """

    name: str
    x_train: torch.Tensor  # digits: (n, 64) float; sort: (n, seq) long
    y_train: torch.Tensor  # digits: (n,) long; sort: (n, seq) long
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]


def _split(n: int, test_fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    order = torch.randperm(n, generator=generator)
    n_test = max(1, round(n * test_fraction))
    return order[n_test:], order[:n_test]


DIGITS_FEATURES, DIGITS_CLASSES = 64, 10  # 8 × 8 pixels; the digits 0-9
PROBE_EXAMPLES = 512  # the fixed batch every probe at initialisation reads


def probe_batch(task: Task, n: int = PROBE_EXAMPLES) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: the first ``n`` training examples, the same batch for every probe and seed."""
    require_positive_int("n", n)
    return task.x_train[:n], task.y_train[:n]


def _digits_file() -> Path | None:
    """scikit-learn's own copy of the digits (``datasets/data/digits.csv.gz``), found without
    importing scikit-learn, or None if this version keeps it elsewhere."""
    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


@functools.cache
def _digits_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: the 1,797 digits' pixels (float32) and labels, read once per process.

    Read straight from scikit-learn's file (each row: 64 pixels, then the label), as its
    ``load_digits`` reads it: importing scikit-learn itself pulls in SciPy, several seconds on a
    slow machine before the first picture. If the file is not where this expects it,
    ``sklearn.datasets.load_digits`` is used.
    """
    path = _digits_file()
    if path is None:
        from sklearn.datasets import load_digits as sklearn_digits

        bunch = sklearn_digits()
        table = numpy.column_stack([bunch.data, bunch.target])
    else:
        with gzip.open(path, "rt") as file:
            table = numpy.loadtxt(file, delimiter=",")  # (1797, 65)
    x = torch.as_tensor(table[:, :-1], dtype=torch.float32)  # (1797, 64)
    y = torch.as_tensor(table[:, -1].astype(numpy.int64))  # (1797,)
    return x, y


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> Task:
    """scikit-learn's 1,797 digits as 64 standardised features (train mean and std), 10 classes.

    The split is a seeded permutation, so every run trains on the same 75 %.
    """
    x, y = _digits_arrays()  # (1797, 64) pixel values 0..16; (1797,) labels
    train, test = _split(len(y), test_fraction, torch.Generator().manual_seed(seed))
    # a border pixel that is almost always 0 has a tiny std; dividing by it would turn one
    # unusual test pixel into a huge feature, so nearly-constant pixels keep their raw scale
    mean, std = x[train].mean(0), x[train].std(0).clamp_min(1.0)
    x = (x - mean) / std
    return Task("digits", x[train], y[train], x[test], y[test], n_classes=DIGITS_CLASSES)


def make_sort(
    n_train: int = 4096, n_test: int = 512, length: int = 16, vocab: int = 10, seed: int = 0
) -> Task:
    """Random digit sequences ``(n, length)`` whose target is the same sequence sorted."""
    for name, value in (("n_train", n_train), ("n_test", n_test), ("length", length), ("vocab", vocab)):
        require_positive_int(name, value)
    if vocab < 2:
        raise ValueError(f"vocab must be at least 2 (something to sort), got {vocab}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(vocab, (n_train + n_test, length), generator=g)  # (n, seq)
    y = x.sort(dim=1).values  # (n, seq)
    return Task("sort", x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_classes=vocab)


def make_task(name: str, seed: int = 0, **options: object) -> Task:
    """Build a task by name: ``"digits"`` (:func:`load_digits`) or ``"sort"`` (:func:`make_sort`)."""
    if name == "digits":
        return load_digits(seed=seed, **options)  # type: ignore[arg-type]
    if name == "sort":
        return make_sort(seed=seed, **options)  # type: ignore[arg-type]
    raise ValueError(f"unknown task {name!r}; expected one of {', '.join(repr(t) for t in TASKS)}")


def make_grid(n_points: int = 256, low: float = -2.0, high: float = 2.0) -> torch.Tensor:
    """``n_points`` evenly spaced scalars from ``low`` to ``high`` as a ``(n_points, 1)`` batch."""
    require_positive_int("n_points", n_points)
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2 (a grid needs neighbours), got {n_points}")
    require_positive_float("high - low", high - low)
    return torch.linspace(low, high, n_points).unsqueeze(1)  # (n_points, 1)


def batches(n: int, batch_size: int, steps: int, seed: int) -> torch.Tensor:
    """``(steps, batch_size)`` example indices: seeded epochs of shuffled, non-repeating batches.

    The same indices feed every variant of a batched run, so variants differ only in what
    the experiment varies.
    """
    for name, value in (("n", n), ("batch_size", batch_size), ("steps", steps)):
        require_positive_int(name, value)
    if batch_size > n:
        raise ValueError(f"batch_size ({batch_size}) is larger than the data set ({n} examples)")
    per_epoch = n // batch_size
    g = torch.Generator().manual_seed(seed)
    epochs = -(-steps // per_epoch)
    rows = [
        torch.randperm(n, generator=g)[: per_epoch * batch_size].view(per_epoch, batch_size)
        for _ in range(epochs)
    ]
    return torch.cat(rows)[:steps]  # (steps, batch_size)
