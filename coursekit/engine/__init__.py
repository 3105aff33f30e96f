"""The batched engine: many variants of a model trained as one computation, for the maintainers.

A learner reads ``nn/`` and ``training/loop.py``; this package makes the experiments fast and
records what :func:`coursekit.training.train_model` records, bit for bit where tests say so.

- :mod:`.contract`: what a model offers the engine (``forward_stacked``, a ``Protocol``);
- :mod:`.run`: the entry points :func:`train_many`, :func:`train_depth_sweep`,
  :func:`train_side_by_side`;
- :mod:`.jobs`: what is trained together, checked; :mod:`.threads`: how the work is dealt out
  to threads (and :func:`map_side_by_side` for work after training);
- :mod:`.step`: one thread's share trained; :mod:`.optimizer`: SGD or Adam on a flat buffer;
- :mod:`.layers`: layers for many variants at once; :mod:`.fused`: the digits nets' blocks as
  one autograd node, its loops compiled by TorchScript.

The engine imports from the layers below the experiments (``training``, ``measures``, ``nn``)
and knows no experiment's model: each model gathers its own weights by name.
"""

from .contract import DepthSweepForward, StackedForward, structure
from .run import train_depth_sweep, train_many, train_side_by_side
from .threads import map_side_by_side

__all__ = [
    "DepthSweepForward",
    "StackedForward",
    "map_side_by_side",
    "structure",
    "train_depth_sweep",
    "train_many",
    "train_side_by_side",
]
