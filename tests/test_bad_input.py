"""Every bad input fails early with a ValueError or TypeError that names the problem."""

import pytest
import torch
from torch import nn

from coursekit import MLP, LayerNorm, Residual, RMSNorm, SelfAttention, StackConfig, TransformerBlock
from coursekit.experiments import (
    DegradationConfig,
    GradientProfileConfig,
    LesionConfig,
    ShatteredConfig,
    run_lesion,
    run_shattered,
)
from coursekit.seeding import default_device, seed_everything


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: TransformerBlock(30, 4), ValueError, "divisible by n_heads"),
        (lambda: SelfAttention(10, 3), ValueError, "divisible by n_heads"),
        (lambda: TransformerBlock(32, 4, norm="middle"), ValueError, "'middle'"),
        (lambda: TransformerBlock(32, 4, residual="yes"), TypeError, "residual"),
        (lambda: TransformerBlock(32.0, 4), TypeError, "d_model"),
        (lambda: TransformerBlock(0, 4), ValueError, "d_model"),
        (lambda: TransformerBlock(32, 4, eps=-1.0), ValueError, "eps"),
        (lambda: MLP(8, activation="tanh"), ValueError, "'tanh'"),
        (lambda: MLP(8, d_hidden=0), ValueError, "d_hidden"),
        (lambda: LayerNorm(8, eps=0), ValueError, "eps"),
        (lambda: LayerNorm("8"), TypeError, "normalized_shape"),
        (lambda: LayerNorm((4, -1)), ValueError, "normalized_shape"),
        (lambda: RMSNorm(8, eps="small"), TypeError, "eps"),
        (lambda: Residual(lambda x: x), TypeError, "nn.Module"),
        (lambda: Residual(MLP(4), scale=0.5, gate=True), ValueError, "not both"),
        (lambda: StackConfig(depth=0), ValueError, "depth"),
        (lambda: StackConfig(depth=2, block="cnn"), ValueError, "'cnn'"),
        (lambda: StackConfig(depth=2, residual="False"), TypeError, "residual must be True or False"),
        (lambda: StackConfig(depth=2, gate=1), TypeError, "gate must be True or False"),
        (lambda: StackConfig(depth=2, residual=False, gate=True), ValueError, "residual"),
        (lambda: StackConfig(depth=2, block="transformer", branch_scale=0.5), ValueError, "mlp blocks"),
        (lambda: TransformerBlock.from_torch(nn.Linear(2, 2)), TypeError, "TransformerEncoderLayer"),
        (lambda: TransformerBlock.from_torch(nn.TransformerEncoderLayer(8, 2)), ValueError, "batch_first"),
        (
            lambda: TransformerBlock.from_torch(
                nn.TransformerEncoderLayer(8, 2, activation=torch.tanh, batch_first=True)
            ),
            ValueError,
            "activation",
        ),
        (lambda: seed_everything("0"), TypeError, "seed"),
    ],
)
def test_bad_construction_is_refused(make, error, words):
    with pytest.raises(error, match=words):
        make()


@pytest.mark.parametrize(
    "module, x, error, words",
    [
        (LayerNorm(8), torch.randn(2, 7), ValueError, r"\(2, 7\).*\(8,\)"),
        (LayerNorm(8), torch.ones(2, 8, dtype=torch.long), TypeError, "floating-point"),
        (LayerNorm(8), [1.0] * 8, TypeError, "torch.Tensor"),
        (RMSNorm(8), torch.randn(8, 2), ValueError, "normalized_shape"),
        (MLP(8), torch.randn(2, 6), ValueError, "6 features"),
        (TransformerBlock(16, 4), torch.randn(2, 16), ValueError, r"\(batch, seq, d_model\)"),
        (TransformerBlock(16, 4), torch.randn(2, 3, 12), ValueError, "12 features"),
        (TransformerBlock(16, 4), torch.ones(2, 3, 16, dtype=torch.int32), TypeError, "dtype"),
        (Residual(nn.Linear(8, 4)), torch.randn(2, 8), ValueError, "shape"),
    ],
)
def test_bad_forward_input_is_refused(module, x, error, words):
    with pytest.raises(error, match=words):
        module(x)


def test_asking_for_a_missing_gpu_is_refused():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        default_device("cuda")
    assert default_device().type == "cpu"


@pytest.mark.parametrize(
    "run, error, words",
    [
        (lambda: run_lesion(LesionConfig(batch_size=5000), progress_bar=False), ValueError, "batch_size"),
        (lambda: ShatteredConfig(seeds=()), TypeError, "seeds"),
        (lambda: ShatteredConfig(depths=(3, 0)), ValueError, "depths"),
        (lambda: run_shattered({"depths": (3,)}), TypeError, "ShatteredConfig"),
        (lambda: DegradationConfig(depths=[6, 20]), TypeError, "depths"),
        (lambda: GradientProfileConfig(seeds=(0, 1.5)), TypeError, "seeds"),
    ],
)
def test_bad_experiment_settings_are_refused(run, error, words):
    with pytest.raises(error, match=words):
        run()
