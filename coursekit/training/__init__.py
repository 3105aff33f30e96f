"""Training: the textbook loop a learner reads (:mod:`.loop`) and the batched engine that trains
many variants as one computation (:mod:`.batched`). Both record a :class:`TrainResult`."""

from .batched import map_side_by_side, train_depth_sweep, train_many, train_side_by_side
from .loop import TrainConfig, TrainResult, lr_factor, train_model

__all__ = [
    "TrainConfig",
    "TrainResult",
    "lr_factor",
    "map_side_by_side",
    "train_depth_sweep",
    "train_many",
    "train_model",
    "train_side_by_side",
]
