"""Fused stacked operations for :func:`~coursekit.engine.train_many`: a BatchNorm MLP's
layers over many variants at once, with a hand-written backward pass.

At the course's sizes (8 variants × width 64 × batch 128) one batched matmul takes ~100 µs and
every small op around it (a norm, an activation, a transpose copy, autograd's bookkeeping)
10–30 µs, so the time goes to the number of ops. These functions keep the activations
**batch-outer**, ``(batch, variant, width)``: every variant's every channel is one column of a
``(batch, variant * width)`` matrix, so a BatchNorm over all of them is one
``native_batch_norm`` call, forward and backward, with no transposes, and each layer's matmul
reads and writes that layout in place (``bmm`` with a leading dimension of ``variant * width``).

This layout also keeps every number **bit for bit** what the per-variant modules compute
(``nn.Linear``, ``nn.BatchNorm1d`` with batch statistics, ReLU, the shortcut): each channel's
statistics are reduced over the batch in the same order, and each matmul has the same
orientation, as for one model alone. (A feature-major layout, ``(variant, width, batch)``, is
as fast here but rounds differently, and a deep plain net amplifies that rounding: 1e-6 at the
logits of 8 layers, 1e-3 at 34.) tests/test_fused.py checks values and gradients.

- :func:`bn_stack`: a whole stack of blocks ``out = skip * x + f(x)`` (or
  ``relu(skip * x + f(x))``), each ``f`` a chain of Linear → BatchNorm (→ ReLU) layers, as one
  autograd node: the forward keeps what the backward needs, the backward runs the blocks in
  reverse, three ``bmm`` and a few full-size ops per layer. ``active`` lets variants of
  different depths share one run (a variant skips the blocks past its own depth). Its loops
  run compiled by TorchScript, which holds no GIL, so :mod:`.threads`' threads run side by side.
- :func:`bn_net_stacked`: stem → :func:`bn_stack` → norm → head, the ``forward_stacked`` of
  the digits nets, on the weights they gather (:class:`BatchNormNetWeights`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["BatchNormNetWeights", "bn_net_stacked", "bn_stack", "keep_freed_memory"]

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


def _per_variant(t: Tensor) -> Tensor:
    """``(batch, n, width)`` -> the ``(n, batch, width)`` view ``bmm`` batches over."""
    return t.transpose(0, 1)


def _pad(grad: Tensor, like: Tensor) -> Tensor:
    """``grad`` of the first variants, zero for the rest (which did not run the block)."""
    if grad.shape[0] == like.shape[0]:
        return grad
    out = torch.zeros_like(like)
    out[: grad.shape[0]] = grad
    return out


def _stack_forward(
    h: Tensor,
    params: list[Tensor],
    skips: list[Tensor],
    layers: int,
    post_relu: bool,
    eps: float,
    active: list[int],
) -> tuple[Tensor, list[Tensor]]:
    """The forward pass of :func:`bn_stack`: ``(output, saved)``, ``saved`` holding per block
    ``x``, then ``z, mean, invstd, y`` per layer, then the block's output and its skip factors."""
    batch, variants, width = h.shape[0], h.shape[1], h.shape[2]
    saved: list[Tensor] = []
    x = h
    for i in range(len(active)):
        n = active[i]  # variants [0, n) run this block; the others pass their input through
        u = x[:, :n]
        saved.append(x)
        for j in range(layers):
            k = 3 * (i * layers + j)
            weight, gamma, beta = params[k], params[k + 1], params[k + 2]
            z = torch.empty([batch, n, width], dtype=h.dtype)
            torch.bmm(_per_variant(u), weight[:n].transpose(1, 2), out=_per_variant(z))  # u W^T
            # training-mode BatchNorm per variant and channel: one kernel over n * width channels
            y, mean, invstd = torch.native_batch_norm(
                z.view(batch, n * width),
                gamma[:n].reshape(-1),
                beta[:n].reshape(-1),
                None,
                None,
                True,
                0.0,
                eps,
            )
            y = y.view(batch, n, width)
            if j < layers - 1 or not post_relu:
                y.relu_()
            saved += [z, mean, invstd, y]
            u = y
        # (1, n, width): broadcast over the batch only, which keeps the op vectorised
        skip = skips[i][:n].view(1, n, 1).expand(1, n, width).contiguous()
        if n == variants:
            out = torch.addcmul(u, skip, x)  # skip * x + f(x)
            if post_relu:
                out.relu_()
        else:
            out = x.clone()
            torch.addcmul(u, skip, x[:, :n], out=out[:, :n])
            if post_relu:
                out[:, :n].relu_()
        saved += [out, skip]
        x = out
    return x, saved


def _stack_backward(
    g: Tensor,
    params: list[Tensor],
    saved: list[Tensor],
    layers: int,
    post_relu: bool,
    eps: float,
    active: list[int],
) -> tuple[Tensor, list[Tensor]]:
    """The backward pass of :func:`bn_stack` for the output gradient ``g``: ``(input gradient,
    parameter gradients)``, the blocks in reverse, three ``bmm`` and a few full-size ops per layer."""
    g = g.contiguous()
    batch, variants, width = g.shape[0], g.shape[1], g.shape[2]
    per_block = 4 * layers + 3  # saved tensors per block
    grads: list[Tensor] = [g] * len(params)  # placeholders, every one replaced below
    for i in range(len(active) - 1, -1, -1):
        n = active[i]
        first = i * per_block
        x, out, skip = saved[first], saved[first + per_block - 2], saved[first + per_block - 1]
        g_all = g
        g = g_all[:, :n] if n < variants else g_all
        if post_relu:
            g = torch.ops.aten.threshold_backward(g, out[:, :n], 0)
        g_x = g * skip  # the shortcut's share of the input's gradient
        g_u = g
        for j in range(layers - 1, -1, -1):
            k = 3 * (i * layers + j)
            weight, gamma = params[k], params[k + 1]
            z, mean, invstd, y = saved[first + 1 + 4 * j : first + 5 + 4 * j]
            if j < layers - 1 or not post_relu:
                g_u = torch.ops.aten.threshold_backward(g_u, y, 0)
            dz, dgamma, dbeta = torch.ops.aten.native_batch_norm_backward(
                g_u.reshape(batch, n * width),
                z.view(batch, n * width),
                gamma[:n].reshape(-1),
                None,
                None,
                mean,
                invstd,
                True,
                eps,
                [True, True, True],
            )
            dz = dz.view(batch, n, width)
            u = x[:, :n] if j == 0 else saved[first + 4 * j]  # the layer's input: x, or the last y
            dweight = torch.bmm(_per_variant(dz).transpose(1, 2), _per_variant(u))  # dz^T u
            grads[k] = _pad(dweight, weight)
            grads[k + 1] = _pad(dgamma.view(n, width), gamma)
            grads[k + 2] = _pad(dbeta.view(n, width), gamma)
            g_u = torch.empty([batch, n, width], dtype=g.dtype)
            torch.bmm(_per_variant(dz), weight[:n], out=_per_variant(g_u))  # dz W
        g_u += g_x  # as autograd sums the two paths into x
        if n < variants:
            g = g_all.clone()
            g[:, :n] = g_u
        else:
            g = g_u
    return g, grads


def _compiled() -> tuple[Callable, Callable]:
    """:func:`_stack_forward` and :func:`_stack_backward` compiled by TorchScript, whose
    interpreter runs the whole loop of small ops without Python's GIL: 1.6x faster for a loop of
    tiny ops on one thread, and two threads run side by side (measured: 1.96x the work in the
    same time, against 0.8x for the same loop in Python), which is what :mod:`.threads`'
    threads need. The same ATen ops run, so the numbers are the same to the last bit. Where
    TorchScript is missing or cannot read the source, the Python functions run instead.
    Compiled once, under a lock: the first calls come from several threads at once."""
    with _COMPILING:
        if not _SCRIPTED:
            try:
                with warnings.catch_warnings():
                    # torch.jit.script warns that TorchScript is deprecated; torch is pinned and
                    # tests/test_fused.py checks these functions bit for bit
                    warnings.simplefilter("ignore", DeprecationWarning)
                    _SCRIPTED.extend([torch.jit.script(_stack_forward), torch.jit.script(_stack_backward)])
            except (AttributeError, OSError, RuntimeError):
                _SCRIPTED.extend([_stack_forward, _stack_backward])
        return _SCRIPTED[0], _SCRIPTED[1]


_COMPILING = threading.Lock()
_SCRIPTED: list[Callable] = []  # (forward, backward) once compiled


class _BNStack(torch.autograd.Function):
    """See :func:`bn_stack`. Inputs after the settings: ``h``, then per block per layer
    ``weight, bn_weight, bn_bias``, then per block ``skip``."""

    @staticmethod
    def forward(ctx, layers: int, post_relu: bool, eps: float, active: tuple, h, *tensors):
        depth = len(active)
        params, skips = list(tensors[: 3 * layers * depth]), list(tensors[3 * layers * depth :])
        forward, _ = _compiled()
        out, saved = forward(h, params, skips, layers, post_relu, eps, list(active))
        if depth:
            # the output itself, kept by save_for_backward rather than in ctx (no reference cycle)
            saved[-2] = _EMPTY
            ctx.save_for_backward(out)
        ctx.saved, ctx.params, ctx.skips = saved, params, len(skips)
        ctx.settings = (layers, post_relu, eps, list(active))
        return out

    @staticmethod
    def backward(ctx, g):
        saved = list(ctx.saved)
        if ctx.saved_tensors:
            saved[-2] = ctx.saved_tensors[0]
        _, backward = _compiled()
        g, grads = backward(g, ctx.params, saved, *ctx.settings)
        return (None, None, None, None, g, *grads, *([None] * ctx.skips))


_EMPTY = torch.empty(0)


def bn_stack(
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

    ``h`` ``(batch, variant, width)`` (batch-outer); for block ``i`` and layer ``j``,
    ``weights[i][j]`` ``(variant, width, width)`` (``nn.Linear`` layout, no bias),
    ``bn_weights[i][j]``, ``bn_biases[i][j]`` ``(variant, width)``; ``skips[i]`` ``(variant,)``.
    Block ``i`` computes, per variant, ``u = relu(BN(u W_j^T))`` for each layer from ``u = x``, then
    ``skip * x + u``; with ``post_relu`` the last layer has no ReLU of its own and the block
    returns ``relu(skip * x + u)`` (He et al. 2015's basic block). Without, and with one layer,
    it is the digits net's default ``BatchNormBlock``: ``skip * x + relu(BN(W x))``.

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
    variants = h.shape[1]
    active = tuple([variants] * depth if active is None else (int(n) for n in active))
    if len(active) != depth or any(not 0 < n <= variants for n in active):
        raise ValueError(
            f"active must give 1..{variants} variants for each of the {depth} blocks, got {active}"
        )
    tensors = []
    for i in range(depth):
        for j in range(layers):
            tensors += [weights[i][j], bn_weights[i][j], bn_biases[i][j]]
    return _BNStack.apply(layers, post_relu, eps, active, h.contiguous(), *tensors, *skips)


def _batch_norm(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """BatchNorm of ``h`` ``(batch, variant, width)`` per variant and channel (autograd's own)."""
    b, v, d = h.shape
    out = F.batch_norm(h.reshape(b, v * d), None, None, weight.reshape(-1), bias.reshape(-1), True, 0.0, eps)
    return out.view(b, v, d)


@dataclass(frozen=True)
class BatchNormNetWeights:
    """The stacked weights of a BatchNorm MLP laid out as the digits nets are, each
    ``(variant, ...)``: a stem (Linear without bias → BatchNorm → ReLU), blocks of Linear →
    BatchNorm layers (:func:`bn_stack`'s ``weights``, ``bn_weights``, ``bn_biases``, ``skips``),
    a final BatchNorm and a Linear head. The model that owns the names gathers them."""

    stem: torch.Tensor  # (variant, width, d_in)
    stem_norm: tuple[torch.Tensor, torch.Tensor]  # BatchNorm weight, bias (variant, width)
    weights: list[list[torch.Tensor]]  # [block][layer] (variant, width, width)
    bn_weights: list[list[torch.Tensor]]  # [block][layer] (variant, width)
    bn_biases: list[list[torch.Tensor]]
    skips: list[torch.Tensor]  # [block] (variant,)
    norm: tuple[torch.Tensor, torch.Tensor]  # the final BatchNorm's weight, bias
    head: tuple[torch.Tensor, torch.Tensor]  # weight (variant, n_classes, width), bias (variant, n_classes)


def bn_net_stacked(
    w: BatchNormNetWeights,
    x: torch.Tensor,
    post_relu: bool = False,
    eps: float = 1e-5,
    active: Sequence[int] | None = None,
) -> torch.Tensor:
    """The ``forward_stacked`` of a BatchNorm MLP (:class:`BatchNormNetWeights`): stem →
    :func:`bn_stack` → norm → head. ``x`` ``(batch, d_in)``; returns the logits
    ``(variant, batch, n_classes)``. ``post_relu`` and ``active`` as in :func:`bn_stack`:
    without ``post_relu`` each block is ``skip * x + relu(BN(W x))`` (the course's
    ``BatchNormNet`` by default), with it and two layers He et al. 2015's basic block (the same
    net with ``layers_per_block=2, post_relu=True``: lesson 5's degradation net).
    """
    variants, width, _ = w.stem.shape
    # one matmul for every variant: (batch, d_in) @ (d_in, variant * width)
    h = torch.matmul(x, w.stem.reshape(variants * width, -1).t()).view(-1, variants, width)
    h = F.relu(_batch_norm(h, *w.stem_norm, eps), inplace=True)
    h = bn_stack(
        h, w.weights, w.bn_weights, w.bn_biases, w.skips, post_relu=post_relu, eps=eps, active=active
    )  # (batch, variant, width)
    h = _batch_norm(h, *w.norm, eps)
    # h W^T + b per variant: (variant, batch, n_classes)
    return torch.baddbmm(w.head[1].unsqueeze(1), _per_variant(h), w.head[0].transpose(1, 2))
