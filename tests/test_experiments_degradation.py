"""Degradation (He et al. 2015) and lesion (Veit et al. 2016): directions pinned over seeds.

Each test states a direction that must hold at *every* seed, never one machine's numbers.
"""

import dataclasses
import math

import pytest
import torch

from coursekit.data import load_digits
from coursekit.experiments import DegradationConfig, LesionConfig, run_degradation, run_lesion
from coursekit.experiments.degradation import skip_twins, train_twins_live
from coursekit.experiments.models import BatchNormNet
from coursekit.seeding import seed_everything

SEEDS = (0, 1, 2)
PER_EPOCH = load_digits().n_train // 128  # steps per epoch at the default batch size


@pytest.fixture(scope="module")
def sweep():
    """Three depths, three seeds, the default training (about 8 s on one core)."""
    return run_degradation(DegradationConfig(depths=(4, 10, 16), seeds=SEEDS), progress_bar=False)


def test_plain_error_rises_with_depth_at_every_seed(sweep):
    plain = sweep.train_error["plain"]  # [depth][seed]
    for s in range(len(SEEDS)):
        column = [row[s] for row in plain]
        assert column[0] < column[1] < column[2], column
    assert min(plain[-1]) > 20, plain[-1]  # the deepest plain net fails at every seed
    means = sweep.mean_error("plain")
    assert means[2] > 3 * means[1] and means[1] > 2 * means[0], means  # a curve, not one point


def test_residual_stays_low_and_beats_plain_at_the_deepest_depth(sweep):
    for row in sweep.train_error["residual"]:
        assert max(row) < 3, row
    for plain, residual in zip(
        sweep.train_error["plain"][-1], sweep.train_error["residual"][-1], strict=True
    ):
        assert residual < plain
    assert sweep.diverged == 0


def test_plain_gradients_do_not_vanish_while_it_fails(sweep):
    """The cause is optimisation: the deepest plain net's every block gets a gradient all along."""
    for norms in sweep.grad_norms["plain"][-1]:  # [logged step][block]
        assert len(norms) == 16
        assert min(norms) > 1e-3 * max(norms), norms


def test_result_records_curves_counts_and_ranges(sweep):
    config = sweep.config
    steps = config.epochs * PER_EPOCH
    assert len(sweep.loss_curves["plain"][0]) == len(sweep.loss_curves["residual"][0]) == steps
    assert sweep.parameters[0] < sweep.parameters[1] < sweep.parameters[2]
    assert config.layers == (10, 22, 34)
    low, high = sweep.error_range("plain")[-1]
    assert low <= sweep.mean_error("plain")[-1] <= high
    assert all(math.isfinite(e) for row in sweep.test_error["residual"] for e in row)


def test_twins_have_the_same_parameters_and_weights_and_differ_in_the_skip():
    twins = skip_twins(3, seed=4)
    plain, residual = twins["plain"], twins["residual"]
    named = dict(residual.named_parameters())
    assert [n for n, _ in plain.named_parameters()] == list(named)
    assert all(torch.equal(p, named[n]) for n, p in plain.named_parameters())
    assert [b.skip.item() for b in plain.blocks] == [0.0] * 3
    assert [b.skip.item() for b in residual.blocks] == [1.0] * 3
    x = torch.randn(32, 64)
    assert not torch.allclose(plain(x), residual(x))


def test_block_computes_the_formula_and_stacked_forward_agrees():
    seed_everything(0)
    net = BatchNormNet(2, 8, 5, 3, shortcut="identity", layers_per_block=2, post_relu=True)
    x = torch.randn(16, 5)
    block, h = net.blocks[0], net.stem(x)
    inner = block.norms[1](block.linears[1](torch.relu(block.norms[0](block.linears[0](h)))))
    torch.testing.assert_close(block(h), torch.relu(h + inner))
    params = {n: p.detach().unsqueeze(0) for n, p in net.named_parameters()}
    params |= {n: b.unsqueeze(0) for n, b in net.named_buffers()}
    torch.testing.assert_close(net.forward_stacked(params, x)[0], net(x))


def test_live_training_adds_up_and_the_residual_twin_learns_faster():
    snapshots = list(train_twins_live(depth=12, epochs=4, pieces=3))
    assert [s.epoch for s in snapshots] == [1, 3, 4] and snapshots[-1].done
    assert all(len(s.loss["plain"]) == s.epoch * PER_EPOCH for s in snapshots)
    last = snapshots[-1]
    assert last.train_error["residual"] < last.train_error["plain"]
    with pytest.raises(ValueError, match="momentum"):
        next(train_twins_live(4, 2, config=DegradationConfig(momentum=0.9)))
    with pytest.raises(ValueError, match="arms"):
        next(train_twins_live(4, 2, arms=("dense",)))


def test_lesion_breaks_the_plain_net_at_every_seed_and_barely_touches_the_residual():
    result = run_lesion(LesionConfig(depth=6, epochs=12), progress_bar=False)
    plain_low, _ = result.damage_range("plain")
    _, residual_high = result.damage_range("residual", skip_first=True)
    assert plain_low > 40 and residual_high < 5, (result.baseline_by_seed, result.deleted_by_seed)
    assert len(result.deleted["plain"]) == 6 and len(result.deleted_by_seed["plain"]) == 3
    # several blocks at once: the plain net stays broken; the residual one degrades step by step
    for seed in range(3):
        residual = [result.deleted_by_seed["residual"][seed], result.several["residual"][2][seed]]
        single = sum(residual[0]) / len(residual[0])
        assert single <= residual[1] <= result.several["residual"][4][seed] < 50, result.several
        assert result.several["plain"][4][seed] > 40, result.several


def test_the_lesion_reuses_a_sweeps_nets_and_gets_the_numbers_it_would_train_itself():
    """Lesson 5 lesions the depth sweep's own 8-block nets instead of training them again."""
    config = LesionConfig(depth=3, seeds=(0, 1), epochs=2, several=(2,), sets=2)
    sweep = run_degradation(dataclasses.replace(config.sweep(), depths=(2, 3)), progress_bar=False)
    reused, trained = (
        run_lesion(config, progress_bar=False, sweep=sweep),
        run_lesion(config, progress_bar=False),
    )
    assert reused.baseline_by_seed == trained.baseline_by_seed
    assert reused.deleted_by_seed == trained.deleted_by_seed and reused.several == trained.several
    with pytest.raises(ValueError, match="sweep"):
        run_lesion(dataclasses.replace(config, lr=0.1), progress_bar=False, sweep=sweep)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: DegradationConfig(depths=(4, 0)), ValueError, "depths"),
        (lambda: DegradationConfig(layers_per_block=0), ValueError, "layers_per_block"),
        (lambda: DegradationConfig(momentum=1.0), ValueError, "momentum"),
        (lambda: DegradationConfig(momentum="0.9"), TypeError, "momentum"),
        (lambda: LesionConfig(seeds=(0, 1.5)), TypeError, "seeds"),
        (lambda: LesionConfig(depth=3, several=(4,)), ValueError, "several"),
        (lambda: run_degradation("deep"), TypeError, "DegradationConfig"),
        (lambda: run_lesion(LesionConfig(batch_size=5000), progress_bar=False), ValueError, "batch_size"),
    ],
)
def test_bad_settings_are_refused_by_name(make, error, match):
    with pytest.raises(error, match=match):
        make()
