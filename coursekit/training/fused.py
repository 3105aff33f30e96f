"""Fused stacked operations for :func:`~coursekit.training.batched.train_many`: a BatchNorm MLP's
layers over many variants at once, with hand-written backward passes.

At the course's sizes (8 variants × width 64 × batch 128) one matmul takes ~100 µs and every
small op around it (a norm, an activation, a transpose, autograd's bookkeeping) 10–15 µs,
so the time goes to the number of ops. These functions keep the activations **feature-major**,
``(variant, width, batch)``, which makes every variant's every channel one contiguous row: a
BatchNorm over all of them is one ``native_batch_norm`` call over ``variant * width``
channels, forward and backward, with no transposes; a layer is ``W @ h``, one ``bmm``.

- :func:`batch_norm_fm`: training-mode BatchNorm (+ ReLU) of feature-major activations, one
  autograd node whose backward is one ``native_batch_norm_backward`` (and one mask).
- :func:`bn_stack_fm`: a whole stack of blocks ``out = skip * x + f(x)`` (or
  ``relu(skip * x + f(x))``), each ``f`` a chain of Linear → BatchNorm (→ ReLU) layers, as one
  autograd node: the forward keeps what the backward needs, the backward runs the blocks in
  reverse, three ``bmm`` and a handful of full-size ops per layer. ``active`` lets variants of
  different depths share one run (a variant skips the blocks past its own depth).

Every function computes what the per-variant modules compute (``nn.Linear``, ``nn.BatchNorm1d``
with batch statistics, ReLU), up to float rounding (tests/test_fused.py compares them,
values and gradients).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Sequence

import torch

__all__ = ["batch_norm_fm", "bn_stack_fm", "from_feature_major", "keep_freed_memory", "to_feature_major"]

_KEPT = False


def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to keep freed memory for reuse instead of handing it back to the OS.

    A training step allocates and frees the same few hundred tensors every step. By default
    glibc serves every block over 128 KiB (one ``(8, 64, 128)`` activation is 256 KiB) with a
    fresh ``mmap`` and unmaps it on free, so every step pays a page fault per 4 KiB of every
    activation (measured: half the forward pass). Raising the mmap and trim thresholds to 32 MiB
    and 1 GiB keeps those blocks on the heap for the next step. Peak memory is unchanged; the
    process just keeps its high-water mark. Linux (glibc) only; elsewhere a no-op. Returns whether
    the setting is in force.
    """
    global _KEPT
    if _KEPT or not sys.platform.startswith("linux"):
        return _KEPT
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    _KEPT = bool(mallopt(m_mmap_threshold, 32 * 2**20)) and bool(mallopt(m_trim_threshold, 2**30))
    return _KEPT


def to_feature_major(x: torch.Tensor) -> torch.Tensor:
    """``(variant, batch, width)`` -> contiguous ``(variant, width, batch)``."""
    return x.transpose(1, 2).contiguous()


def from_feature_major(h: torch.Tensor) -> torch.Tensor:
    """``(variant, width, batch)`` -> ``(variant, batch, width)`` (a view)."""
    return h.transpose(1, 2)


def _bn_forward(z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float):
    """Training-mode BatchNorm of ``z`` ``(variant, width, batch)`` per variant and channel:
    ``(y, mean, invstd)``, ``mean``/``invstd`` flat ``(variant * width,)`` as
    ``native_batch_norm`` gives them. Written out (mean, centre, variance of the centred values,
    as ``native_batch_norm`` computes them): twice as fast as ``native_batch_norm`` on this layout,
    whose kernel is slow for one long row per channel."""
    mean = z.mean(-1, keepdim=True)  # (variant, width, 1)
    y = z - mean
    var = torch.linalg.vecdot(y, y, dim=-1).unsqueeze(-1).div_(z.shape[-1])  # biased, as BatchNorm
    invstd = var.add_(eps).rsqrt_()
    y.mul_(invstd * weight.unsqueeze(-1)).add_(bias.unsqueeze(-1))
    return y, mean.view(-1), invstd.view(-1)


def _bn_backward(g, z, weight, mean, invstd, eps, need_affine: bool = True):
    """``(dz, dweight, dbias)`` of :func:`_bn_forward` for the output gradient ``g``."""
    v, d, b = z.shape
    dz, dw, db = torch.ops.aten.native_batch_norm_backward(
        g.reshape(1, v * d, b),
        z.view(1, v * d, b),
        weight.reshape(-1),
        None,
        None,
        mean,
        invstd,
        True,
        eps,
        [True, need_affine, need_affine],
    )
    dw = None if dw is None else dw.view(weight.shape)
    db = None if db is None else db.view(weight.shape)
    return dz.view(v, d, b), dw, db


class _BatchNormFM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, weight, bias, eps: float, relu: bool):
        z = z.contiguous()
        y, mean, invstd = _bn_forward(z, weight, bias, eps)
        if relu:
            y.relu_()
        ctx.save_for_backward(z, weight, mean, invstd, y if relu else None)
        ctx.eps, ctx.relu = eps, relu
        return y

    @staticmethod
    def backward(ctx, g):
        z, weight, mean, invstd, y = ctx.saved_tensors
        if ctx.relu:
            g = torch.ops.aten.threshold_backward(g, y, 0)
        dz, dw, db = _bn_backward(g, z, weight, mean, invstd, ctx.eps, ctx.needs_input_grad[1])
        return dz, dw, db, None, None


def batch_norm_fm(
    z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5, relu: bool = False
) -> torch.Tensor:
    """BatchNorm with batch statistics (then ReLU if ``relu``) of ``z`` ``(variant, width, batch)``
    per variant and channel; ``weight``, ``bias`` ``(variant, width)``. One autograd node."""
    return _BatchNormFM.apply(z, weight, bias, eps, relu)


class _BNStackFM(torch.autograd.Function):
    """See :func:`bn_stack_fm`. Inputs after the settings: ``h``, then per block per layer
    ``weight, bn_weight, bn_bias``, then per block ``skip``."""

    @staticmethod
    def forward(ctx, layers: int, post_relu: bool, eps: float, active: tuple, h, *tensors):
        depth = len(active)
        per_block = 3 * layers
        params, skips = tensors[: depth * per_block], tensors[depth * per_block :]
        saved = []  # per block: (x, [(z, mean, invstd, r)] per layer, out-or-None)
        x = h
        for i in range(depth):
            n = active[i]  # variants [0, n) run this block; the others pass their input through
            w = params[i * per_block : (i + 1) * per_block]
            xs = x[:n]
            u, trace = xs, []
            for j in range(layers):
                weight, gamma, beta = w[3 * j : 3 * j + 3]
                z = torch.bmm(weight[:n], u)  # (n, width, batch)
                y, mean, invstd = _bn_forward(z, gamma[:n], beta[:n], eps)
                relu = j < layers - 1 or not post_relu
                if relu:
                    y.relu_()
                trace.append((z, mean, invstd, y))
                u = y
            skip = skips[i][:n].view(n, 1, 1)
            out = torch.addcmul(u, skip, xs)  # skip * x + f(x)
            if post_relu:
                out.relu_()
            if n < x.shape[0]:
                out = torch.cat([out, x[n:]])
            saved.append([x, trace, out if post_relu else None])
            x = out
        if depth and saved[-1][2] is x:
            saved[-1][2] = None  # the output itself: kept by save_for_backward (no reference cycle)
            ctx.save_for_backward(x)
        ctx.saved = saved
        ctx.params, ctx.skips = params, skips
        ctx.layers, ctx.post_relu, ctx.eps, ctx.active = layers, post_relu, eps, active
        return x

    @staticmethod
    def backward(ctx, g):
        layers, post_relu, eps, active = ctx.layers, ctx.post_relu, ctx.eps, ctx.active
        params, skips, saved = ctx.params, ctx.skips, ctx.saved
        per_block = 3 * layers
        grads: list = [None] * len(params)
        g = g.contiguous()
        output = ctx.saved_tensors[0] if ctx.saved_tensors else None
        for i in reversed(range(len(active))):
            n = active[i]
            x, trace, out = saved[i]
            out = output if out is None else out  # the last block's, kept as the output
            w = params[i * per_block : (i + 1) * per_block]
            if n < g.shape[0]:
                g_rest, g = g[n:], g[:n]
            else:
                g_rest = None
            if post_relu:
                g = torch.ops.aten.threshold_backward(g, out[:n], 0)
            g_x = g * skips[i][:n].view(n, 1, 1)
            g_u = g
            for j in reversed(range(layers)):
                weight, gamma, _ = w[3 * j : 3 * j + 3]
                z, mean, invstd, y = trace[j]
                if j < layers - 1 or not post_relu:
                    g_u = torch.ops.aten.threshold_backward(g_u, y, 0)
                dz, dgamma, dbeta = _bn_backward(g_u, z, gamma[:n], mean, invstd, eps)
                u = x[:n] if j == 0 else trace[j - 1][3]
                dweight = torch.bmm(dz, u.transpose(1, 2))  # (n, width, width)
                k = i * per_block + 3 * j
                grads[k : k + 3] = [_pad(dweight, weight), _pad(dgamma, gamma), _pad(dbeta, gamma)]
                if j == 0:
                    g_u = torch.baddbmm(g_x, weight[:n].transpose(1, 2), dz)  # skip * g + W^T dz
                else:
                    g_u = torch.bmm(weight[:n].transpose(1, 2), dz)
            g = g_u if g_rest is None else torch.cat([g_u, g_rest])
        return (None, None, None, None, g, *grads, *([None] * len(skips)))


def _pad(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``grad`` of the first variants, zero for the rest (which did not run the block)."""
    if grad.shape[0] == like.shape[0]:
        return grad
    out = like.new_zeros(like.shape)
    out[: grad.shape[0]] = grad
    return out


def bn_stack_fm(
    h: torch.Tensor,
    weights: Sequence[Sequence[torch.Tensor]],
    bn_weights: Sequence[Sequence[torch.Tensor]],
    bn_biases: Sequence[Sequence[torch.Tensor]],
    skips: Sequence[torch.Tensor],
    post_relu: bool = False,
    eps: float = 1e-5,
    active: Sequence[int] | None = None,
) -> torch.Tensor:
    """A stack of residual BatchNorm blocks over stacked variants, as one autograd node.

    ``h`` ``(variant, width, batch)`` (feature-major); for block ``i`` and layer ``j``,
    ``weights[i][j]`` ``(variant, width, width)`` (``nn.Linear`` layout, no bias),
    ``bn_weights[i][j]``, ``bn_biases[i][j]`` ``(variant, width)``; ``skips[i]`` ``(variant,)``.
    Block ``i`` computes, per variant, ``u = relu(BN(W_j u))`` for each layer from ``u = x``, then
    ``skip * x + u``; with ``post_relu`` the last layer has no ReLU of its own and the block
    returns ``relu(skip * x + u)`` (He et al. 2015's basic block). Without, it is
    :class:`~coursekit.experiments.models.BatchNormBlock`'s ``skip * x + relu(BN(W x))``.

    ``active[i]`` (default: all) is how many variants, the first ones, run block ``i``; the
    others pass their input through unchanged and their weights of that block get zero
    gradient. Sorting variants deepest first lets one run train every depth of a sweep with
    no wasted matmul: ``active[i]`` is the number of variants deeper than ``i`` blocks.
    """
    depth = len(weights)
    if not (len(bn_weights) == len(bn_biases) == len(skips) == depth):
        raise ValueError("weights, bn_weights, bn_biases and skips need one entry per block")
    layers = len(weights[0]) if depth else 1
    if any(len(ws) != layers for group in (weights, bn_weights, bn_biases) for ws in group):
        raise ValueError("every block needs the same number of layers")
    variants = h.shape[0]
    active = tuple([variants] * depth if active is None else (int(n) for n in active))
    if len(active) != depth or any(not 0 < n <= variants for n in active):
        raise ValueError(
            f"active must give 1..{variants} variants for each of the {depth} blocks, got {active}"
        )
    tensors = []
    for i in range(depth):
        for j in range(layers):
            tensors += [weights[i][j], bn_weights[i][j], bn_biases[i][j]]
    return _BNStackFM.apply(layers, post_relu, eps, active, h.contiguous(), *tensors, *skips)
