"""Checks a learner runs in an exercise notebook: ``check_<thing>(learner_object)``.

Every check seeds itself, prints one ✅/❌ line with a hint, records its result and returns
a :class:`CheckResult`; none ever raises at the learner.
"""

from . import order
from .blocks import check_transformer_block
from .core import CheckResult
from .design import check_experiment_conclusion, check_experiment_design
from .experiments import check_fair_comparison
from .mlp import check_mlp
from .norms import check_layer_norm, check_rms_norm
from .probes import check_grad_norm_probe
from .questions import check_answer
from .residual import check_residual
from .results import check_skip_arms, check_skip_conclusion, check_skip_results, check_skip_stacks
from .schedules import check_warmup

order.install()  # in a notebook: a check cell run too early reads as a hint (see order.py)

__all__ = [
    "CheckResult",
    "check_answer",
    "check_experiment_conclusion",
    "check_experiment_design",
    "check_fair_comparison",
    "check_grad_norm_probe",
    "check_layer_norm",
    "check_mlp",
    "check_residual",
    "check_rms_norm",
    "check_skip_arms",
    "check_skip_conclusion",
    "check_skip_results",
    "check_skip_stacks",
    "check_transformer_block",
    "check_warmup",
]
