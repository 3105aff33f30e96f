"""The fused stacked ops compute what the per-variant modules compute: values and gradients,
bit for bit in float32, and against finite differences in float64."""

import pytest
import torch
from torch.func import stack_module_state
from torch.nn import functional as F

from coursekit.data import load_digits
from coursekit.engine.fused import bn_stack, keep_freed_memory
from coursekit.experiments.models import BatchNormNet, digits_net_stacked

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

    def rand(*shape, scale=1.0, shift=0.0):
        return (torch.randn(*shape, generator=gen, dtype=dtype) * scale + shift).requires_grad_()

    weights = [[rand(V, D, D, scale=D**-0.5) for _ in range(layers)] for _ in range(depth)]
    gammas = [[rand(V, D, scale=0.3, shift=1.0) for _ in range(layers)] for _ in range(depth)]
    betas = [[rand(V, D, scale=0.3) for _ in range(layers)] for _ in range(depth)]
    skips = [torch.tensor([0.0, 1.0, 0.5], dtype=dtype) for _ in range(depth)]
    return weights, gammas, betas, skips


@pytest.mark.parametrize("layers, post_relu", [(1, False), (2, True), (2, False)])
def test_bn_stack_is_the_blocks_one_variant_at_a_time(layers, post_relu):
    """Forward against the functional reference; the hand-written backward against autograd's
    gradient of that reference and against finite differences (gradcheck)."""
    depth = 3
    weights, gammas, betas, skips = _random_stack(depth, layers)
    gen = torch.Generator().manual_seed(1)
    h = torch.randn(B, V, D, generator=gen, dtype=torch.float64, requires_grad=True)
    out = bn_stack(h, weights, gammas, betas, skips, post_relu=post_relu)
    refs = []
    for v in range(V):
        x = h[:, v]
        for i in range(depth):
            own = [[t[v] for t in group[i]] for group in (weights, gammas, betas)]
            x = _reference_block(x, *own, skips[i][v], post_relu)
        refs.append(x)
    ref = torch.stack(refs, dim=1)
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
        return bn_stack(h, split(w), split(g), split(b), skips, post_relu=post_relu)

    assert torch.autograd.gradcheck(fn, tuple(t.detach().clone().requires_grad_() for t in leaves))


def test_variants_past_their_depth_pass_their_input_through():
    """``active``: variant 2 runs 1 block, variant 1 runs 2, variant 0 all 3; each equals its
    own shallower stack, and the blocks it skips get zero gradient."""
    depth = 3
    weights, gammas, betas, skips = _random_stack(depth, 1)
    h = torch.randn(B, V, D, dtype=torch.float64, requires_grad=True)
    out = bn_stack(h, weights, gammas, betas, skips, active=(3, 2, 1))
    for v, own_depth in enumerate((3, 2, 1)):
        alone = bn_stack(
            h[:, v : v + 1],
            [[w[0][v : v + 1]] for w in weights[:own_depth]],
            [[g[0][v : v + 1]] for g in gammas[:own_depth]],
            [[b[0][v : v + 1]] for b in betas[:own_depth]],
            [s[v : v + 1] for s in skips[:own_depth]],
        )
        torch.testing.assert_close(out[:, v], alone[:, 0])
    out.square().sum().backward()
    assert weights[2][0].grad[1:].abs().max() == 0 and weights[1][0].grad[2].abs().max() == 0
    assert weights[2][0].grad[0].abs().max() > 0 and weights[0][0].grad[2].abs().max() > 0
    assert h.grad[:, 2].abs().max() > 0


def test_bn_stack_refuses_bad_arguments():
    weights, gammas, betas, skips = _random_stack(2, 1)
    h = torch.randn(B, V, D, dtype=torch.float64)
    with pytest.raises(ValueError, match="active"):
        bn_stack(h, weights, gammas, betas, skips, active=(3, 0))
    with pytest.raises(ValueError, match="one entry per block"):
        bn_stack(h, weights, gammas[:1], betas, skips)


@pytest.mark.parametrize("shortcut", ["none", "identity", "scaled"])
def test_batchnormnet_forward_stacked_is_each_variants_forward_bit_for_bit(shortcut):
    """The fused path of BatchNormNet.forward_stacked on the digits: the logits and every block's
    gradient are exactly what each model computes alone (a deep plain net would amplify any
    rounding); the head's gradient differs in the last bits, as it did before the fused path."""
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(BatchNormNet(12, 32, shortcut=shortcut))
    params, buffers = stack_module_state(models)
    digits = load_digits()
    x, y = digits.x_train[:64], digits.y_train[:64]
    logits = models[0].forward_stacked(params | buffers, x)
    assert logits.shape == (3, 64, 10)
    F.cross_entropy(logits.movedim(-1, 1), y.expand(3, 64), reduction="none").mean(1).sum().backward()
    for v, model in enumerate(models):
        own = model(x)
        assert torch.equal(logits[v], own)
        F.cross_entropy(own, y, reduction="none").mean().backward()
        for name, p in model.named_parameters():
            if name.startswith("head."):  # batched baddbmm's weight/bias gradient: summed in another order
                torch.testing.assert_close(params[name].grad[v], p.grad, rtol=1e-5, atol=1e-7)
            else:
                assert torch.equal(params[name].grad[v], p.grad), name


def test_bn_net_stacked_is_a_two_layer_basic_block_net_too():
    """The degradation net's layout: two layers per block, ReLU after the shortcut."""

    class Block(torch.nn.Module):
        def __init__(self, skip):
            super().__init__()
            self.linears = torch.nn.ModuleList(torch.nn.Linear(16, 16, bias=False) for _ in range(2))
            self.norms = torch.nn.ModuleList(
                torch.nn.BatchNorm1d(16, track_running_stats=False) for _ in range(2)
            )
            self.register_buffer("skip", torch.tensor(skip))

        def forward(self, x):
            h = F.relu(self.norms[0](self.linears[0](x)))
            return F.relu(self.skip * x + self.norms[1](self.linears[1](h)))

    def net(skip):
        stem = torch.nn.Sequential(
            torch.nn.Linear(64, 16, bias=False),
            torch.nn.BatchNorm1d(16, track_running_stats=False),
            torch.nn.ReLU(),
        )
        model = torch.nn.Module()
        model.stem, model.blocks = stem, torch.nn.ModuleList(Block(skip) for _ in range(3))
        model.norm, model.head = torch.nn.BatchNorm1d(16, track_running_stats=False), torch.nn.Linear(16, 10)
        return model

    models = [net(s) for s in (0.0, 1.0)]
    params, buffers = stack_module_state(models)
    x = load_digits().x_train[:32]
    logits = digits_net_stacked(params | buffers, x, 3, layers=2, post_relu=True)
    for v, m in enumerate(models):
        h = m.stem(x)
        for block in m.blocks:
            h = block(h)
        assert torch.equal(logits[v], m.head(m.norm(h)))


def test_keep_freed_memory_answers_a_bool():
    assert isinstance(keep_freed_memory(), bool)


def test_the_fused_path_is_the_per_block_path_bit_for_bit():
    """BatchNormNet.forward_stacked (fused) against the per-block path it replaced
    (batch_norm_stacked and BatchNormBlock.forward_stacked): the same logits and gradients,
    head included, so no experiment's numbers move."""
    from coursekit.engine.layers import batch_norm_stacked, linear_stacked

    models = []
    for seed, shortcut in enumerate(("none", "identity", "scaled", "none")):
        torch.manual_seed(seed)
        models.append(BatchNormNet(10, 32, shortcut=shortcut))
    digits = load_digits()
    x, y = digits.x_train[:128], digits.y_train[:128]

    def per_block(p):
        h = torch.matmul(x, p["stem.0.weight"].transpose(1, 2))
        h = batch_norm_stacked(h, p["stem.1.weight"], p["stem.1.bias"], relu=True)
        for i, block in enumerate(models[0].blocks):
            h = block.forward_stacked(p, f"blocks.{i}.", h)
        h = batch_norm_stacked(h, p["norm.weight"], p["norm.bias"])
        return linear_stacked(h, p["head.weight"], p["head.bias"])

    outs = []
    for forward in (lambda p: models[0].forward_stacked(p, x), per_block):
        params, buffers = stack_module_state(models)
        logits = forward(params | buffers)
        F.cross_entropy(logits.movedim(-1, 1), y.expand(4, 128), reduction="none").mean(1).sum().backward()
        outs.append((logits, {n: p.grad for n, p in params.items()}))
    (fused, fused_grads), (blockwise, blockwise_grads) = outs
    assert torch.equal(fused, blockwise)
    for name, grad in fused_grads.items():
        assert torch.equal(grad, blockwise_grads[name]), name


@pytest.mark.parametrize(("layers", "post_relu", "active"), [(1, False, [3, 3, 3]), (2, True, [3, 2, 1])])
def test_the_stack_runs_compiled_and_gives_its_python_source_bit_for_bit(layers, post_relu, active):
    """TorchScript runs the stack's loops (without the GIL); the same ATen ops in the same order,
    so the compiled forward and backward give exactly what their Python source gives."""
    from coursekit.engine import fused

    compiled = fused._compiled()
    assert all(isinstance(f, torch.jit.ScriptFunction) for f in compiled)
    weights, gammas, betas, skips = _random_stack(len(active), layers, dtype=torch.float32)
    params = [
        t.detach()
        for i in range(len(active))
        for j in range(layers)
        for t in (weights[i][j], gammas[i][j], betas[i][j])
    ]
    h = torch.randn(B, V, D, generator=torch.Generator().manual_seed(1))
    g = torch.randn(B, V, D, generator=torch.Generator().manual_seed(2))
    outputs = []
    for forward, backward in (compiled, (fused._stack_forward, fused._stack_backward)):
        out, saved = forward(h, params, skips, layers, post_relu, 1e-5, active)
        g_in, grads = backward(g, params, saved, layers, post_relu, 1e-5, active)
        outputs.append([out, *saved, g_in, *grads])
    for a, b in zip(*outputs, strict=True):
        assert torch.equal(a, b)
