"""What the initialisation does to the scale of activations and gradients through depth.

A plain (no skip, no norm) stack of ReLU MLP blocks, ``Linear(d → 4d) → ReLU → Linear(4d → d)``,
initialised three ways:

- ``default``: ``nn.Linear``'s own, uniform with variance ``1/(3·fan_in)`` (``kaiming_uniform_``
  with ``a = √5``): each block multiplies the variance of what passes through its weights by
  about ``(1/3)·(1/2)·(1/3) = 1/18``, an RMS factor of about 1/4; backward that is the whole
  story, forward the biases (also ``± 1/√fan_in``) keep the activations from falling further;
- ``xavier``: Glorot and Bengio (2010), variance ``2/(fan_in + fan_out)``, designed for units
  without ReLU's halving: about ``0.4 · 1/2 · 1.6 = 0.32`` of the variance per block;
- ``he``: He et al. (2015), ``fc1`` with variance ``2/fan_in`` (ReLU's halving undone), ``fc2``
  with ``1/fan_in``: the variance is kept, forward and (in the mean) backward.

:func:`run_init_scales` measures the RMS of the stream after every block and of the gradient
``∂(v·y)/∂x_l`` that reaches every block's input, for a fixed random output direction ``v``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..nn import Stack, StackConfig
from ..seeding import seed_everything, single_threaded
from ..validate import require_choice, require_int_tuple, require_positive_int

INITS = ("default", "xavier", "he")


def initialise(stack: Stack, init: str) -> Stack:
    """Re-initialise every MLP branch of ``stack`` by ``init`` (one of :data:`INITS`); biases 0
    except under ``default``, which keeps ``nn.Linear``'s weights and biases untouched."""
    require_choice("init", init, INITS)
    if init == "default":
        return stack
    for module in stack.modules():
        if hasattr(module, "fc1") and hasattr(module, "fc2"):
            if init == "xavier":
                nn.init.xavier_normal_(module.fc1.weight)
                nn.init.xavier_normal_(module.fc2.weight)
            else:
                nn.init.kaiming_normal_(module.fc1.weight, nonlinearity="relu")  # var 2/fan_in
                nn.init.kaiming_normal_(module.fc2.weight, nonlinearity="linear")  # var 1/fan_in
            nn.init.zeros_(module.fc1.bias)
            nn.init.zeros_(module.fc2.bias)
    return stack


@dataclass(frozen=True)
class InitScalesConfig:
    """A plain, un-normalised ReLU MLP stack at init, probed under each initialisation."""

    depth: int = 32
    d_model: int = 64
    batch: int = 256  # unit-variance random inputs
    inits: tuple[str, ...] = INITS
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        for name in ("depth", "d_model", "batch"):
            require_positive_int(name, getattr(self, name))
        if not isinstance(self.inits, tuple) or not self.inits:
            raise TypeError(f"inits must be a non-empty tuple of {INITS}, got {self.inits!r}")
        for init in self.inits:
            require_choice("init", init, INITS)
        require_int_tuple("seeds", self.seeds)


@dataclass(frozen=True)
class InitScalesResult:
    """``activation[init][seed index]``: RMS of the stream at the input and after each block
    (``depth + 1`` numbers); ``gradient[init][seed index]``: RMS of ``∂(v·y)/∂x_l`` at the same
    places (the last is ``v`` itself, RMS about 1)."""

    config: InitScalesConfig
    activation: dict[str, list[list[float]]]
    gradient: dict[str, list[list[float]]]

    def per_block(self, init: str, which: str = "gradient") -> list[float]:
        """The geometric-mean factor per block, input to output, one number per seed: how much
        one block multiplies the activation's RMS (``which="activation"``) or how much the
        gradient's RMS is multiplied going one block back toward the input (``"gradient"``)."""
        runs = {"activation": self.activation, "gradient": self.gradient}[which][init]
        depth = self.config.depth
        if which == "activation":
            return [(run[-1] / run[0]) ** (1 / depth) for run in runs]
        return [(run[0] / run[-1]) ** (1 / depth) for run in runs]


def _scales(stack: Stack, x: torch.Tensor, v: torch.Tensor) -> tuple[list[float], list[float]]:
    """RMS of every hidden state and of the gradient of ``v·x_L`` with respect to it."""
    x = x.clone().requires_grad_(True)
    states = stack.hidden_states(x)  # depth + 1 tensors (batch, d_model)
    grads = torch.autograd.grad((states[-1] * v).sum(), states)
    rms = lambda t: t.detach().pow(2).mean().sqrt().item()  # noqa: E731
    return [rms(s) for s in states], [rms(g) for g in grads]


@single_threaded
def run_init_scales(config: InitScalesConfig = InitScalesConfig()) -> InitScalesResult:
    """Activation and gradient RMS by block, per initialisation and seed (one forward and one
    backward pass each; the same input and output direction for every initialisation)."""
    if not isinstance(config, InitScalesConfig):
        raise TypeError(f"config must be an InitScalesConfig, got {type(config).__name__}")
    activation: dict[str, list[list[float]]] = {init: [] for init in config.inits}
    gradient: dict[str, list[list[float]]] = {init: [] for init in config.inits}
    for seed in config.seeds:
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(config.batch, config.d_model, generator=gen)  # (batch, d_model)
        v = torch.randn(config.batch, config.d_model, generator=gen)  # (batch, d_model)
        for init in config.inits:
            seed_everything(seed)
            plain = StackConfig(config.depth, config.d_model, norm="none", residual=False, activation="relu")
            stack = initialise(Stack(plain), init)
            acts, grads = _scales(stack, x, v)
            activation[init].append(acts)
            gradient[init].append(grads)
    return InitScalesResult(config, activation, gradient)
