"""Training: the textbook loop a learner reads (:mod:`.loop`): the config, the schedule, the
record, :func:`train_model`. The batched engine that trains many variants as one computation,
and records the same :class:`TrainResult`, is :mod:`coursekit.engine`."""

from .loop import TrainConfig, TrainResult, lr_factor, train_model

__all__ = ["TrainConfig", "TrainResult", "lr_factor", "train_model"]
