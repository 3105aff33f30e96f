"""coursekit's LayerNorm and RMSNorm agree with torch.nn's, forward and backward."""

import pytest
import torch
from torch import nn

from coursekit import LayerNorm, RMSNorm

SHAPES = [((4, 16), 16), ((2, 5, 8), 8), ((3, 4, 6), (4, 6)), ((7,), 7)]
EPS = [1e-5, 1e-2, 0.5]
DTYPES = [torch.float32, torch.float64]


def _compare(ours: nn.Module, theirs: nn.Module, input_shape, dtype) -> None:
    """Same output and same gradients (input and parameters) for a non-trivial input."""
    theirs.load_state_dict(ours.state_dict())
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(input_shape, generator=g, dtype=dtype) * 3 + 1.5).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    upstream = torch.randn(input_shape, generator=g, dtype=dtype)

    y, y_ref = ours(x), theirs(x_ref)
    torch.testing.assert_close(y, y_ref)
    grads = torch.autograd.grad((y * upstream).sum(), [x, *ours.parameters()])
    grads_ref = torch.autograd.grad((y_ref * upstream).sum(), [x_ref, *theirs.parameters()])
    for ours_g, ref_g in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(ours_g, ref_g)


def _randomise(module: nn.Module) -> nn.Module:
    """Non-trivial gain and bias, so a mix-up between them cannot pass."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", EPS)
@pytest.mark.parametrize("input_shape,normalized_shape", SHAPES)
def test_layer_norm_matches_torch(input_shape, normalized_shape, eps, dtype):
    ours = _randomise(LayerNorm(normalized_shape, eps=eps, dtype=dtype))
    _compare(ours, nn.LayerNorm(normalized_shape, eps=eps, dtype=dtype), input_shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [None, *EPS])
@pytest.mark.parametrize("input_shape,normalized_shape", SHAPES)
def test_rms_norm_matches_torch(input_shape, normalized_shape, eps, dtype):
    ours = _randomise(RMSNorm(normalized_shape, eps=eps, dtype=dtype))
    _compare(ours, nn.RMSNorm(normalized_shape, eps=eps, dtype=dtype), input_shape, dtype)


@pytest.mark.parametrize("options", [{"elementwise_affine": False}, {"bias": False}])
def test_layer_norm_without_affine_parameters_matches_torch(options):
    ours = _randomise(LayerNorm(10, **options))
    _compare(ours, nn.LayerNorm(10, **options), (3, 10), torch.float32)


def test_layer_norm_initial_parameters_match_torch():
    ours, theirs = LayerNorm(12), nn.LayerNorm(12)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for name, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[name], value)


def test_layer_norm_is_independent_of_the_batch():
    ln = _randomise(LayerNorm(8))
    x = torch.randn(6, 8)
    torch.testing.assert_close(ln(x[:1]), ln(x)[:1])
