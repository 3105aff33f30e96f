"""Each experiment of docs/science.md reproduces the *direction* of its published result.

Fixed seeds; the training experiments run small configurations where the default would
be slow, but large enough for the effect to be clear.
"""

import pytest

from coursekit.experiments import (
    DegradationConfig,
    GradientProfileConfig,
    LesionConfig,
    RankCollapseConfig,
    ShatteredConfig,
    ShortcutConfig,
    grad_norms_at_init,
    run_degradation,
    run_lesion,
    run_rank_collapse,
    run_shattered,
    run_shortcuts,
)


def test_degradation_residual_trains_better_than_plain_at_depth_16():
    result = run_degradation(DegradationConfig(depths=(16,), seeds=(0,), epochs=10), progress_bar=False)
    plain, residual = result.final_loss["plain"][0][0], result.final_loss["residual"][0][0]
    assert residual < 0.5 * plain, (plain, residual)
    assert result.mean_error("residual")[0] < result.mean_error("plain")[0]
    assert len(result.grad_norms["plain"][0][-1]) == 16
    assert result.diverged == 0


def test_degradation_shallow_plain_net_is_fine():
    result = run_degradation(DegradationConfig(depths=(2,), seeds=(0,), epochs=10), progress_bar=False)
    assert result.mean_error("plain")[0] < 5 and result.mean_error("residual")[0] < 5


def test_plain_batchnorm_nets_have_healthy_gradients_at_init():
    """He et al.: the plain nets' trouble is not vanishing gradients."""
    norms = grad_norms_at_init(32)
    assert min(norms["plain"]) > 1e-3 * max(norms["plain"])


def test_rank_collapse_of_pure_attention_and_its_cure():
    """At every seed: attention alone collapses to rank one; skips stop it."""
    result = run_rank_collapse(RankCollapseConfig(depth=12, seeds=(0, 1, 2)))
    for i in range(3):
        ranks = result.curves(i)
        assert ranks["attention"][0] > 0.9
        assert ranks["attention"][2] < 0.05 and ranks["attention"][-1] < 1e-4
        assert ranks["attention+skip"][-1] > 0.5
        assert ranks["attention+MLP+skip"][-1] > 100 * ranks["attention+MLP"][-1]


def test_rank_collapse_seeds_are_independent_runs():
    """A seed's curves do not depend on which other seeds run beside it."""
    both = run_rank_collapse(RankCollapseConfig(depth=3, seeds=(0, 5)))
    alone = run_rank_collapse(RankCollapseConfig(depth=3, seeds=(5,)))
    assert both.curves(1) == alone.curves(0)


def test_lesion_hurts_plain_far_more_than_residual():
    result = run_lesion(LesionConfig(depth=6, seeds=(0,), epochs=12), progress_bar=False)
    plain = sum(result.deleted["plain"]) / 6 - result.baseline["plain"]
    residual = sum(result.deleted["residual"][1:]) / 5 - result.baseline["residual"]
    assert plain > 40 and residual < 5, (plain, residual)


def test_shattered_gradients_plain_decorrelates_residual_does_not():
    """At every seed: plain nets' gradients decorrelate by depth 24; residual ones stay correlated."""
    result = run_shattered(ShatteredConfig(depths=(1, 24), seeds=(0, 1, 2)))
    (shallow, deep), (_, residual_deep) = result.correlation["plain"], result.correlation["residual"]
    assert min(shallow) > 0.9 and max(deep) < 0.3, result.correlation
    assert min(residual_deep) > 0.6, result.correlation


def test_identity_shortcut_beats_the_other_skips():
    """One seed here; tests/test_experiments_shortcuts.py pins the direction over three."""
    result = run_shortcuts(ShortcutConfig(depth=32, epochs=8, seeds=(0,)), progress_bar=False)
    loss = {variant: by_seed[0] for variant, by_seed in result.final_loss.items()}
    others = ("none", "scaled", "gated -1", "gated -6", "projected")
    assert all(loss["identity"] < loss[s] for s in others), loss
    assert result.parameters["identity"] == result.parameters["none"] < result.parameters["projected"]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: DegradationConfig(depths=(0,)), "depths"),
        (lambda: DegradationConfig(depths=()), "depths"),
        (lambda: LesionConfig(lr=0), "lr"),
        (lambda: ShortcutConfig(depth=0), "depth"),
        (lambda: GradientProfileConfig(depth=-1), "depth"),
    ],
)
def test_bad_configs_name_the_value(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
