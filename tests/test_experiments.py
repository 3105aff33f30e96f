"""Each experiment of SCIENCE.md reproduces the *direction* of its published result.

Fixed seeds; the training experiments run small configurations where the default would
be slow, but large enough for the effect to be clear.
"""

import math

import pytest

from coursekit.experiments import (
    DegradationConfig,
    GradientProfileConfig,
    LesionConfig,
    ShortcutConfig,
    grad_norms_at_init,
    run_degradation,
    run_gradient_profile,
    run_lesion,
    run_prenorm_stream,
    run_rank_collapse,
    run_shattered,
    run_shortcuts,
    run_stream_growth,
    run_warmup,
)


def test_degradation_residual_trains_better_than_plain_at_depth_32():
    result = run_degradation(DegradationConfig(depths=(32,), seeds=(0,), epochs=20), progress=False)
    plain, residual = result.final_loss["plain"][0][0], result.final_loss["residual"][0][0]
    assert residual < 0.5 * plain, (plain, residual)
    assert result.mean_error("residual")[0] < result.mean_error("plain")[0]
    assert len(result.grad_norms["plain"][0][-1]) == 32
    assert result.diverged == 0


def test_degradation_shallow_plain_net_is_fine():
    result = run_degradation(DegradationConfig(depths=(4,), seeds=(0,), epochs=10), progress=False)
    assert result.mean_error("plain")[0] < 5 and result.mean_error("residual")[0] < 5


def test_plain_batchnorm_nets_have_healthy_gradients_at_init():
    """He et al.: the plain nets' trouble is not vanishing gradients."""
    norms = grad_norms_at_init(32)
    assert min(norms["plain"]) > 1e-3 * max(norms["plain"])


def test_gradient_profile_prenorm_last_layer_shrinks_with_depth():
    profile = run_gradient_profile(GradientProfileConfig(depths=(4, 16), seeds=(0, 1)))
    pre, post = profile["pre"], profile["post"]
    assert pre[16][-1] < 0.75 * pre[4][-1]
    assert all(p[-1] < p[0] for p in pre.values())  # pre-norm: falls toward the output
    # post-norm's profile is far flatter than pre-norm's
    assert post[16][-1] / post[16][0] > 2 * pre[16][-1] / pre[16][0]


def test_warmup_rescues_deep_postnorm_and_prenorm_needs_none():
    result = run_warmup(progress=False)
    loss = result.final_loss
    assert loss["post"] > 2 * loss["post+warmup"]
    assert loss["post"] > 2 * loss["pre"]
    assert loss["pre"] < 0.5 * math.log(10)


def test_prenorm_stream_grows_with_depth_postnorm_does_not():
    stream = run_prenorm_stream(depth=12)
    assert stream["pre"][-1] > 3 * stream["pre"][1]
    assert stream["pre"] == sorted(stream["pre"])
    assert stream["post"][1:] == pytest.approx([1.0] * 12, abs=0.05)


def test_rank_collapse_of_pure_attention_and_its_cure():
    ranks = run_rank_collapse(depth=12)
    assert ranks["attention"][2] < 0.05 and ranks["attention"][-1] < 1e-4
    assert ranks["attention+skip"][-1] > 0.5
    assert ranks["attention+MLP+skip"][-1] > 100 * ranks["attention+MLP"][-1]


def test_lesion_hurts_plain_far_more_than_residual():
    result = run_lesion(LesionConfig(epochs=20), progress=False)
    plain = sum(result.deleted["plain"]) / 12 - result.baseline["plain"]
    residual = sum(result.deleted["residual"][1:]) / 11 - result.baseline["residual"]
    assert plain > 40 and residual < 5, (plain, residual)


def test_shattered_gradients_plain_decorrelates_residual_does_not():
    corr = run_shattered(depths=(1, 24), seeds=(0, 1))
    assert corr["plain"][0] > 0.9 and corr["plain"][1] < 0.3
    assert corr["residual"][1] > 0.6


def test_stream_growth_and_its_fixes():
    """The one-seed dict; run_stream_scaling's seeds are tested in test_experiments_shortcuts.py."""
    rms = run_stream_growth(depth=30)
    assert rms["identity"][-1] > 1e3 * rms["identity"][0]
    assert rms["1/sqrt(L)"][-1] < 2.5
    assert rms["rezero"][-1] == pytest.approx(rms["rezero"][0])


def test_identity_shortcut_beats_the_other_skips():
    """One seed here; tests/test_experiments_shortcuts.py pins the direction over three."""
    result = run_shortcuts(ShortcutConfig(depth=32, epochs=8, seeds=(0,)), progress=False)
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
        (lambda: GradientProfileConfig(depths=(3, -1)), "depths"),
    ],
)
def test_bad_configs_name_the_value(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
