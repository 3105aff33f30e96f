"""coursekit: the library behind the course on residual connections, LayerNorm and MLPs.

The layers, each importing only from those below it:

- ``validate``, ``seeding``, ``data``: foundations;
- ``nn/``: the reference blocks, with PyTorch's names (the learners' contracts);
- ``measures``, ``probes``: the one implementation of each measure, and probes that leave no trace;
- ``training/``: the textbook loop; ``engine/``: the batched engine that trains many variants
  as one computation (for the maintainers: the experiments run on it);
- ``experiments/``: the published results in miniature, config in, result out;
- ``plots``, ``widgets/``: thin layers that draw the experiments' numbers;
- ``checks/``: the exercise checks; ``course/``: the tooling (build, grade, execute, export,
  doctor, bench, the ``coursekit`` command); ``work/``: where the course and the learner's
  work folder are, and the progress file, in the standard library only, so that the checks
  below the tooling may record progress.

Notebooks import from ``coursekit``, ``coursekit.checks``, ``coursekit.widgets`` and
``coursekit.plots`` only.

The names below are loaded on first use, so ``coursekit --help`` and ``coursekit progress``
answer without importing torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "show_environment": "coursekit.course.doctor",
    "show_progress": "coursekit.work.progress",
    "load_your_blocks": "coursekit.checks.own_blocks",
    "Task": "coursekit.data",
    "load_digits": "coursekit.data",
    "make_grid": "coursekit.data",
    "make_sort": "coursekit.data",
    "make_task": "coursekit.data",
    "CharText": "coursekit.text",
    "load_text": "coursekit.text",
    "Arm": "coursekit.experiments.gpt",
    "GPTConfig": "coursekit.experiments.gpt",
    "GPTResult": "coursekit.experiments.gpt",
    "baseline_bits": "coursekit.experiments.gpt",
    "run_gpt": "coursekit.experiments.gpt",
    "LayerNorm": "coursekit.nn",
    "MLP": "coursekit.nn",
    "RMSNorm": "coursekit.nn",
    "Residual": "coursekit.nn",
    "SelfAttention": "coursekit.nn",
    "Stack": "coursekit.nn",
    "StackConfig": "coursekit.nn",
    "TransformerBlock": "coursekit.nn",
    "build_stack": "coursekit.nn",
    "causal_mask": "coursekit.nn",
    "error_rate": "coursekit.probes",
    "grad_norms_by_layer": "coursekit.probes",
    "gradient_autocorrelation": "coursekit.probes",
    "lesion": "coursekit.probes",
    "parameter_counts": "coursekit.probes",
    "rank_collapse": "coursekit.probes",
    "stream_norms": "coursekit.probes",
    "update_norms": "coursekit.probes",
    "default_device": "coursekit.seeding",
    "seed_everything": "coursekit.seeding",
    "TrainConfig": "coursekit.training",
    "TrainResult": "coursekit.training",
    "train_many": "coursekit.engine",
    "train_model": "coursekit.training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'coursekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
