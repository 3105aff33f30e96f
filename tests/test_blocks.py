"""TransformerBlock against torch.nn.TransformerEncoderLayer, and the skip/norm switches."""

import pytest
import torch
from torch import nn

from coursekit import MLP, Residual, SelfAttention, TransformerBlock, build_stack, causal_mask


def _torch_layer(norm_first: bool, activation, dtype=torch.float32) -> nn.TransformerEncoderLayer:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(
        d_model=32,
        nhead=4,
        dim_feedforward=64,
        dropout=0.1,
        activation=activation,
        batch_first=True,
        norm_first=norm_first,
        dtype=dtype,
    )
    with torch.no_grad():  # non-trivial norms and biases, so a swapped copy cannot pass
        for p in layer.parameters():
            if p.dim() == 1:
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if p.shape[0] == 32 else 0.0))
    return layer.eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("activation", ["gelu", "relu", "gelu_tanh"])
@pytest.mark.parametrize("norm_first", [True, False])
def test_block_matches_torch_encoder_layer(norm_first, activation, causal, dtype):
    # torch spells GPT-2's activation nn.GELU(approximate="tanh")
    torch_activation = nn.GELU(approximate="tanh") if activation == "gelu_tanh" else activation
    layer = _torch_layer(norm_first, torch_activation, dtype)
    block = TransformerBlock.from_torch(layer)
    assert block.norm == ("pre" if norm_first else "post")
    assert block.mlp.activation == activation
    x = torch.randn(3, 7, 32, dtype=dtype)
    mask = nn.Transformer.generate_square_subsequent_mask(7, dtype=dtype) if causal else None
    # torch's no-grad fast path runs every GELU exact (it ignores approximate="tanh"), so the
    # tanh form is compared against the layer's own Python path, which calls its activation
    with torch.set_grad_enabled(activation == "gelu_tanh"):
        expected = layer(x, src_mask=mask, is_causal=causal).detach()
    with torch.no_grad():
        actual = block(x, causal=causal)
    torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize(
    "activation, reference",
    [("gelu", nn.GELU()), ("gelu_tanh", nn.GELU(approximate="tanh")), ("relu", nn.ReLU())],
)
def test_mlp_activations_are_torchs(activation, reference):
    """The exact GELU (torch.nn's default) as "gelu", GPT-2's tanh form as "gelu_tanh"; they differ."""
    torch.manual_seed(0)
    mlp = MLP(8, activation=activation)
    x = torch.randn(4, 8, dtype=torch.float64) * 3
    mlp = mlp.double()
    with torch.no_grad():
        torch.testing.assert_close(mlp(x), mlp.fc2(reference(mlp.fc1(x))), rtol=0, atol=0)
        if activation == "gelu_tanh":  # the approximation is close to, and not, the exact GELU
            gap = (nn.GELU()(x) - reference(x)).abs().max().item()
            assert 1e-6 < gap < 1e-2


def test_causal_mask_hides_the_future():
    block = TransformerBlock(16, 2)
    x = torch.randn(1, 5, 16)
    changed = x.clone()
    changed[:, -1] += torch.randn(16)  # only the last position changes
    with torch.no_grad():
        torch.testing.assert_close(block(changed, causal=True)[:, :-1], block(x, causal=True)[:, :-1])
        assert not torch.allclose(block(changed)[:, :-1], block(x)[:, :-1])
    assert causal_mask(3).tolist() == [[False, True, True], [False, False, True], [False, False, False]]


def test_self_attention_exchanges_state_dicts_with_torch():
    ours = SelfAttention(24, 3)
    theirs = nn.MultiheadAttention(24, 3, batch_first=True)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 6, 24)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x, x, x, need_weights=False)[0])


def _zero_branch_outputs(block: TransformerBlock) -> None:
    with torch.no_grad():
        for linear in (block.attn.out_proj, block.mlp.fc2):
            linear.weight.zero_()
            linear.bias.zero_()


@pytest.mark.parametrize("norm", ["pre", "none"])
def test_residual_block_with_zeroed_branches_is_the_identity(norm):
    block = TransformerBlock(16, 4, norm=norm)
    _zero_branch_outputs(block)
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(block(x), x)


def test_residual_wrapper_with_zeroed_branch_is_the_identity():
    mlp = MLP(8)
    with torch.no_grad():
        mlp.fc2.weight.zero_()
        mlp.fc2.bias.zero_()
    x = torch.randn(4, 8)
    torch.testing.assert_close(Residual(mlp)(x), x)


def test_residual_false_removes_the_skip():
    block = TransformerBlock(16, 4, norm="pre", residual=False)
    _zero_branch_outputs(block)
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(block(x), torch.zeros_like(x))  # nothing left but the zeroed branch
    block = TransformerBlock(16, 4, norm="post", residual=False)
    with torch.no_grad():
        h = block.norm1(block.attn(x))
        torch.testing.assert_close(block(x), block.norm2(block.mlp(h)))


def test_norm_none_removes_the_norm():
    block = TransformerBlock(16, 4, norm="none")
    assert isinstance(block.norm1, nn.Identity) and isinstance(block.norm2, nn.Identity)
    x = torch.randn(2, 5, 16) * 100  # a LayerNorm would rescale this
    with torch.no_grad():
        h = x + block.attn(x)
        torch.testing.assert_close(block(x), h + block.mlp(h))


def test_post_norm_output_is_normalised_and_pre_norm_is_not():
    x = torch.randn(2, 5, 16) * 10
    with torch.no_grad():
        post = TransformerBlock(16, 4, norm="post")(x)
        pre = TransformerBlock(16, 4, norm="pre")(x)
    torch.testing.assert_close(post.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)
    assert pre.std(-1).mean() > 5  # the stream keeps its scale under pre-norm


def test_gated_residual_starts_as_the_identity_and_scale_scales():
    x = torch.randn(3, 8)
    torch.testing.assert_close(Residual(MLP(8), gate=True)(x), x)
    mlp = MLP(8)
    with torch.no_grad():
        torch.testing.assert_close(Residual(mlp, scale=0.25)(x), x + 0.25 * mlp(x))


@pytest.mark.parametrize("block", ["mlp", "transformer"])
@pytest.mark.parametrize("residual", [True, False])
def test_stack_hidden_states_and_forward_agree(block, residual):
    stack = build_stack(3, 16, block=block, residual=residual, norm="post")
    x = torch.randn(2, 5, 16) if block == "transformer" else torch.randn(4, 16)
    with torch.no_grad():
        states = stack.hidden_states(x)
        assert len(states) == 4 and states[0] is x
        torch.testing.assert_close(states[-1], stack(x))


def test_stack_residual_switch_is_the_only_difference():
    torch.manual_seed(0)
    with_skip = build_stack(4, 16, residual=True, norm="pre")
    torch.manual_seed(0)
    without = build_stack(4, 16, residual=False, norm="pre")
    assert with_skip.state_dict().keys() == without.state_dict().keys()
    for name, value in with_skip.state_dict().items():
        torch.testing.assert_close(without.state_dict()[name], value)
    x = torch.randn(2, 16)
    with torch.no_grad():
        block = without.blocks[0]
        torch.testing.assert_close(block(x), with_skip.blocks[0](x) - x)


@pytest.mark.parametrize("norm", ["pre", "post", "none"])
@pytest.mark.parametrize("residual", [True, False])
def test_add_and_norm_is_the_textbook_blocks_lines_bit_for_bit(norm, residual):
    """The helper the stacked, MLP, decoder and capstone blocks share computes exactly what
    TransformerBlock's own lines compute, values and gradients; a factor of 1 on the shortcut
    is the shortcut, a factor of 0 is none."""
    from coursekit.nn import add_and_norm

    torch.manual_seed(0)
    block = TransformerBlock(16, 2, norm=norm, residual=residual)
    with torch.no_grad():  # non-trivial norms, so a norm in the wrong place shows
        for name, p in block.named_parameters():
            if name.startswith("norm"):
                p.uniform_(0.5, 1.5)
    x = torch.randn(3, 5, 16, requires_grad=True)

    def helper(switch):
        h = add_and_norm(x, block.attn, block.norm1, norm, switch)
        return add_and_norm(h, block.mlp, block.norm2, norm, switch)

    expected = block(x)
    (grad,) = torch.autograd.grad(expected.square().sum(), x)
    got = helper(residual)
    assert torch.equal(got, expected)
    assert torch.equal(torch.autograd.grad(got.square().sum(), x)[0], grad)
    torch.testing.assert_close(helper(torch.tensor(float(residual))), expected)
    assert not torch.allclose(helper(not residual), expected)
