"""The fused stacked ops compute what the per-variant modules compute, values and gradients."""

import pytest
import torch
from torch.func import stack_module_state
from torch.nn import functional as F

from coursekit.experiments.models import BatchNormNet
from coursekit.training.fused import batch_norm_fm, bn_stack_fm, keep_freed_memory

pytestmark = pytest.mark.usefixtures("one_thread")

V, D, B = 3, 5, 7  # variants, width, batch


def _reference_block(x, weights, gammas, betas, skip, post_relu, eps=1e-5):
    """One block for one variant with nn.functional ops: ``x`` ``(batch, width)``."""
    u = x
    for j, (w, g, b) in enumerate(zip(weights, gammas, betas, strict=True)):
        u = F.batch_norm(F.linear(u, w), None, None, g, b, training=True, eps=eps)
        if j < len(weights) - 1 or not post_relu:
            u = F.relu(u)
    out = skip * x + u
    return F.relu(out) if post_relu else out


def _random_stack(depth, layers, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen, dtype=dtype) * scale).requires_grad_()

    weights = [[rand(V, D, D, scale=D**-0.5) for _ in range(layers)] for _ in range(depth)]
    gammas = [
        [rand(V, D, scale=0.3).detach().add_(1).requires_grad_() for _ in range(layers)] for _ in range(depth)
    ]
    betas = [[rand(V, D, scale=0.3) for _ in range(layers)] for _ in range(depth)]
    skips = [torch.tensor([0.0, 1.0, 0.5], dtype=dtype) for _ in range(depth)]
    return weights, gammas, betas, skips


@pytest.mark.parametrize("relu", [False, True])
def test_batch_norm_fm_is_batch_norm_per_variant_and_channel(relu):
    torch.manual_seed(0)
    z = torch.randn(V, D, B, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(V, D, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(V, D, dtype=torch.float64, requires_grad=True)
    out = batch_norm_fm(z, weight, bias, relu=relu)
    for v in range(V):
        ref = F.batch_norm(z[v].T, None, None, weight[v], bias[v], training=True)  # (batch, width)
        torch.testing.assert_close(out[v].T, F.relu(ref) if relu else ref)
    assert torch.autograd.gradcheck(lambda *a: batch_norm_fm(*a, relu=relu), (z, weight, bias))


@pytest.mark.parametrize("layers, post_relu", [(1, False), (2, True), (2, False)])
def test_bn_stack_fm_is_the_blocks_one_variant_at_a_time(layers, post_relu):
    """Forward against the functional reference; the hand-written backward against autograd's
    gradient of that reference and against finite differences (gradcheck)."""
    depth = 3
    weights, gammas, betas, skips = _random_stack(depth, layers)
    gen = torch.Generator().manual_seed(1)
    h = torch.randn(V, D, B, generator=gen, dtype=torch.float64, requires_grad=True)
    out = bn_stack_fm(h, weights, gammas, betas, skips, post_relu=post_relu)
    refs = []
    for v in range(V):
        x = h[v].T
        for i in range(depth):
            x = _reference_block(
                x,
                [w[v] for w in weights[i]],
                [g[v] for g in gammas[i]],
                [b[v] for b in betas[i]],
                skips[i][v],
                post_relu,
            )
        refs.append(x.T)
    ref = torch.stack(refs)
    torch.testing.assert_close(out, ref)
    leaves = [h] + [t for group in (weights, gammas, betas) for block in group for t in block]
    probe = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    mine = torch.autograd.grad((out * probe).sum(), leaves)
    theirs = torch.autograd.grad((ref * probe).sum(), leaves)
    for a, b in zip(mine, theirs, strict=True):
        torch.testing.assert_close(a, b)

    def fn(h, *flat):
        n = depth * layers
        w, g, b = flat[:n], flat[n : 2 * n], flat[2 * n :]
        split = lambda ts: [list(ts[i * layers : (i + 1) * layers]) for i in range(depth)]  # noqa: E731
        return bn_stack_fm(h, split(w), split(g), split(b), skips, post_relu=post_relu)

    small = [t.detach().clone() for t in leaves]
    assert torch.autograd.gradcheck(fn, tuple(t.requires_grad_() for t in small))


def test_variants_past_their_depth_pass_their_input_through():
    """``active``: variant 2 runs 1 block, variant 1 runs 2, variant 0 all 3; each equals its
    own shallower stack, and the blocks it skips get zero gradient."""
    depth = 3
    weights, gammas, betas, skips = _random_stack(depth, 1)
    h = torch.randn(V, D, B, dtype=torch.float64, requires_grad=True)
    out = bn_stack_fm(h, weights, gammas, betas, skips, active=(3, 2, 1))
    for v, own_depth in enumerate((3, 2, 1)):
        alone = bn_stack_fm(
            h[v : v + 1],
            [[w[0][v : v + 1]] for w in weights[:own_depth]],
            [[g[0][v : v + 1]] for g in gammas[:own_depth]],
            [[b[0][v : v + 1]] for b in betas[:own_depth]],
            [s[v : v + 1] for s in skips[:own_depth]],
        )
        torch.testing.assert_close(out[v], alone[0])
    out.square().sum().backward()
    assert weights[2][0].grad[1:].abs().max() == 0 and weights[1][0].grad[2].abs().max() == 0
    assert weights[2][0].grad[0].abs().max() > 0 and weights[0][0].grad[2].abs().max() > 0


def test_bn_stack_fm_refuses_bad_arguments():
    weights, gammas, betas, skips = _random_stack(2, 1)
    h = torch.randn(V, D, B, dtype=torch.float64)
    with pytest.raises(ValueError, match="active"):
        bn_stack_fm(h, weights, gammas, betas, skips, active=(3, 0))
    with pytest.raises(ValueError, match="one entry per block"):
        bn_stack_fm(h, weights, gammas[:1], betas, skips)


@pytest.mark.parametrize("shortcut", ["none", "identity", "scaled"])
def test_batchnormnet_forward_stacked_is_each_variants_forward(shortcut):
    """The fused path of BatchNormNet.forward_stacked: logits and every gradient."""
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(BatchNormNet(4, 16, shortcut=shortcut))
    params, buffers = stack_module_state(models)
    x = torch.randn(32, 64)
    logits = models[0].forward_stacked(params | buffers, x)
    assert logits.shape == (3, 32, 10)
    logits.square().sum().backward()
    for v, model in enumerate(models):
        own = model(x)
        torch.testing.assert_close(logits[v], own, rtol=1e-4, atol=1e-5)
        own.square().sum().backward()
        for name, p in model.named_parameters():
            torch.testing.assert_close(params[name].grad[v], p.grad, rtol=1e-3, atol=1e-4, msg=name)


def test_keep_freed_memory_answers_a_bool():
    assert isinstance(keep_freed_memory(), bool)
