"""Checks a learner runs in an exercise notebook: ``check_<thing>(learner_object)``.

Every check seeds itself, prints one ✅/❌ line with a hint, records its result and returns
a :class:`CheckResult`; none ever raises at the learner.
"""

from .core import CheckResult
from .norms import check_layer_norm, check_rms_norm
from .questions import check_answer

__all__ = ["CheckResult", "check_answer", "check_layer_norm", "check_rms_norm"]
