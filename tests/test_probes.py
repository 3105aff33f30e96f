import copy
import math

import pytest
import torch
from torch import nn

from coursekit import TransformerBlock, build_stack
from coursekit.experiments.models import BatchNormNet
from coursekit.measures import find_blocks, lag1_autocorrelation
from coursekit.probes import (
    error_rate,
    grad_norms_by_layer,
    gradient_autocorrelation,
    lesion,
    parameter_counts,
    rank_collapse,
    stream_norms,
    update_norms,
)


def _digits_like(n=32):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 64, generator=g), torch.randint(10, (n,), generator=g)


def test_grad_norms_match_backward_and_leave_grad_untouched():
    torch.manual_seed(0)
    model = BatchNormNet(3, 16)
    x, y = _digits_like()
    norms = grad_norms_by_layer(model, x, y)
    assert all(p.grad is None for p in model.parameters())
    nn.functional.cross_entropy(model(x), y).backward()
    expected = [math.sqrt(sum(p.grad.pow(2).sum().item() for p in b.parameters())) for b in model.blocks]
    assert norms == pytest.approx(expected, rel=1e-5)


def test_grad_norms_of_one_named_parameter():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.blocks = nn.ModuleList(TransformerBlock(16, 2) for _ in range(3))
    model.forward = lambda x: model.blocks[2](model.blocks[1](model.blocks[0](x)))
    x = torch.randn(2, 5, 16)
    y = torch.randint(16, (2, 5))
    one = grad_norms_by_layer(model, x, y, param="mlp.fc2.weight")
    every = grad_norms_by_layer(model, x, y)
    assert len(one) == 3 and all(0 < a < b for a, b in zip(one, every, strict=True))
    with pytest.raises(ValueError, match="mlp.fc9.weight"):
        grad_norms_by_layer(model, x, y, param="mlp.fc9.weight")


def test_stream_and_update_norms():
    torch.manual_seed(0)
    stack = build_stack(4, 8, norm="none", gate=True)  # ReZero: every block starts as the identity
    x = torch.randn(16, 8)
    assert stream_norms(stack, x) == pytest.approx([x.pow(2).mean().sqrt().item()] * 5)
    assert update_norms(stack, x) == [0.0] * 4


def test_rank_collapse_is_zero_for_identical_tokens_and_one_for_zero_mean():
    stack = build_stack(1, 4, norm="none", gate=True)
    same = torch.ones(2, 3, 4)
    assert rank_collapse(stack, same) == pytest.approx([0.0, 0.0], abs=1e-6)
    centred = torch.tensor([[[1.0, 0, 0, 0], [-1.0, 0, 0, 0]]])
    assert rank_collapse(stack, centred) == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match="batch, seq, d_model"):
        rank_collapse(stack, torch.ones(3, 4))


def test_lesion_works_on_a_copy():
    torch.manual_seed(0)
    model = BatchNormNet(3, 16)
    x, y = _digits_like()
    before = [p.clone() for p in model.parameters()]
    intact = error_rate(model, x, y)
    errors = [lesion(model, x, y, k) for k in range(3)]
    assert all(0 <= e <= 1 for e in errors)
    # the original keeps all its blocks, its weights and its error rate
    assert not any(isinstance(b, nn.Identity) for b in find_blocks(model)[1]) and len(model.blocks) == 3
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert error_rate(model, x, y) == intact
    # the lesioned error is that of the model with block 1 replaced by the identity, by hand
    by_hand = copy.deepcopy(model)
    by_hand.blocks[1] = nn.Identity()
    assert errors[1] == error_rate(by_hand, x, y)
    with pytest.raises(ValueError, match="0..2"):
        lesion(model, x, y, 3)


def test_gradient_autocorrelation_smooth_versus_noise():
    grid = torch.linspace(-2, 2, 200).unsqueeze(1)
    assert gradient_autocorrelation(torch.sin, grid) > 0.95
    assert gradient_autocorrelation(lambda x: 3 * x, grid) == 1.0
    alternating = torch.tensor([1.0, -1.0] * 100).unsqueeze(1)
    assert gradient_autocorrelation(lambda x: x * alternating, grid) == pytest.approx(-1.0, abs=0.01)


def test_lag1_autocorrelation_is_the_textbook_estimate():
    """Against numpy's own mean and sums, on a random curve; a constant counts as smooth; white
    noise lands within a few 1/sqrt(n) of 0."""
    import numpy as np

    g = torch.Generator().manual_seed(0)
    noise = torch.randn(400, generator=g, dtype=torch.float64)
    curve = noise.cumsum(0)  # a random walk: strongly correlated
    v = np.asarray(curve) - np.mean(np.asarray(curve))
    textbook = float(np.dot(v[:-1], v[1:]) / np.dot(v, v))
    assert lag1_autocorrelation(curve) == pytest.approx(textbook, rel=1e-12)
    assert lag1_autocorrelation(curve) > 0.9
    assert abs(lag1_autocorrelation(noise)) < 3 / 400**0.5
    assert lag1_autocorrelation(torch.full((10,), 2.5)) == 1.0
    for bad in (torch.zeros(2), torch.zeros(3, 3)):
        with pytest.raises(ValueError, match="1-D curve of at least 3"):
            lag1_autocorrelation(bad)


def test_parameter_counts_of_a_block():
    counts = parameter_counts(TransformerBlock(64, 4))
    assert counts["mlp"] == 2 * 64 * 256 + 256 + 64
    assert counts["attn"] == 4 * 64 * 64 + 4 * 64
    assert counts["norm1"] == counts["norm2"] == 128
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")
    assert counts["mlp"] / counts["total"] == pytest.approx(2 / 3, abs=0.01)


def test_probes_refuse_models_without_blocks():
    with pytest.raises(ValueError, match="blocks"):
        grad_norms_by_layer(nn.Linear(4, 2), torch.ones(1, 4), torch.zeros(1, dtype=torch.long))
    with pytest.raises(TypeError, match="hidden_states"):
        stream_norms(nn.Linear(4, 2), torch.ones(1, 4))


def test_the_trainers_and_the_probe_measure_one_gradient_norm():
    """Step 0's per-block gradient norms, recorded by the batched engine and by the plain loop,
    are what the probe measures on the untrained model and the same minibatch."""
    from coursekit import TrainConfig, load_digits, train_many, train_model
    from coursekit.data import batches

    task = load_digits(seed=0)
    config = TrainConfig(steps=1, batch_size=64, lr=0.05)
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(BatchNormNet(4, 16, shortcut="identity" if seed else "none"))
    index = batches(task.n_train, config.batch_size, config.steps, config.seed)[0]
    x, y = task.x_train[index], task.y_train[index]
    probed = [grad_norms_by_layer(m, x, y) for m in models]
    twins = [copy.deepcopy(m) for m in models]
    batched = [r.grad_norms[0] for r in train_many(models, task, config, progress_bar=False)]
    looped = [train_model(m, task, config, progress_bar=False).grad_norms[0] for m in twins]
    for p, b, loop in zip(probed, batched, looped, strict=True):
        assert len(p) == 4
        assert b == pytest.approx(p, rel=1e-4)
        assert loop == pytest.approx(p, rel=1e-4)
    assert probed[0] != pytest.approx(probed[1], rel=1e-2)  # the two variants really differ
