"""The decoder ablation (lesson 4): the model's switches, the task, and the directions over seeds."""

import dataclasses

import pytest
import torch

from coursekit import seed_everything
from coursekit.experiments import (
    CausalDecoder,
    DecoderConfig,
    first_step_sizes,
    make_causal_task,
    run_decoder_ablation,
)
from coursekit.experiments.decoder import VARIANTS


@pytest.fixture(scope="module")
def result():
    """Lesson 4's run: five variants from three seeds' initial weights, 200 steps (several CPU seconds)."""
    return run_decoder_ablation(DecoderConfig(steps=200), progress_bar=False)


def test_the_full_block_reaches_the_target_from_every_seed(result):
    assert result.reached("residual+norm") == len(result.config.seeds)


def test_without_residuals_no_seed_reaches_the_target_and_every_seed_ends_worse(result):
    assert result.reached("no residuals") == 0
    assert min(result.final_loss["no residuals"]) > 10 * max(result.final_loss["residual+norm"])


def test_a_residual_around_the_mlp_alone_is_slower_than_both_at_every_seed(result):
    full = result.steps_to_target["residual+norm"]
    for seed, (mine, theirs) in enumerate(
        zip(result.steps_to_target["MLP residual only"], full, strict=True)
    ):
        assert mine is None or mine > theirs, f"seed {seed}: {mine} steps against {theirs}"


def test_a_residual_around_attention_alone_trains_but_not_faster_than_both(result):
    """The attention residual carries most of the benefit; the MLP's adds a little."""
    assert result.reached("attn residual only") == len(result.config.seeds)
    full = result.steps_to_target["residual+norm"]
    attn_only = result.steps_to_target["attn residual only"]
    assert sum(attn_only) > sum(full)


def test_at_this_depth_the_norms_do_not_decide_whether_it_trains(result):
    """The honest finding: 4 blocks, Adam: without the norms it still reaches the target."""
    assert result.reached("no norms") == len(result.config.seeds)
    assert max(result.final_loss["no norms"]) < result.config.target_loss


def test_every_variant_has_the_same_parameters(result):
    assert len(set(result.parameters.values())) == 1
    assert set(result.loss_curves) == set(result.config.variants)
    assert all(len(curves) == len(result.config.seeds) for curves in result.loss_curves.values())


def test_the_decoder_is_causal_for_every_variant():
    seed_everything(0)
    model = CausalDecoder(vocab=10, seq=8, depth=2, d_model=16, n_heads=2)
    tokens = torch.randint(10, (3, 8))
    changed = tokens.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 10
    for switches in VARIANTS.values():
        model.switch(*switches)
        with torch.no_grad():
            before, after = model(tokens), model(changed)
        torch.testing.assert_close(before[:, :5], after[:, :5], rtol=0, atol=0)
        assert (before[:, 5] - after[:, 5]).abs().max() > 1e-4


def test_switches_change_the_computation_as_named():
    seed_everything(0)
    model = CausalDecoder(vocab=10, seq=8, depth=2, d_model=16, n_heads=2)
    tokens = torch.randint(10, (3, 8))
    with torch.no_grad():
        outputs = {name: model.switch(*s)(tokens) for name, s in VARIANTS.items()}
        # no attention: each position sees only its own token, so permuting the earlier tokens
        # leaves the last position's output unchanged
        model.switch(*VARIANTS["no attention"])
        shuffled = tokens.clone()
        shuffled[:, :7] = tokens[:, :7].flip(1)
        torch.testing.assert_close(model(tokens)[:, 7], model(shuffled)[:, 7])
    names = list(outputs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not torch.allclose(outputs[a], outputs[b]), f"{a} and {b} compute the same"


def test_the_batched_forward_equals_each_models_own():
    from torch.func import stack_module_state

    models = []
    for switches in VARIANTS.values():
        seed_everything(1)
        models.append(CausalDecoder(10, 8, 2, 16, 2, norm="pre").switch(*switches))
    params, buffers = stack_module_state(models)
    tokens = torch.randint(10, (4, 8))
    with torch.no_grad():
        stacked = models[0].forward_stacked(params | buffers, tokens)
        for v, model in enumerate(models):
            torch.testing.assert_close(stacked[v], model(tokens), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rule", ["shift", "add"])
def test_the_targets_depend_on_the_past_only(rule):
    task = make_causal_task(rule, vocab=10, seq=8, n_train=64)
    x, y = task.x_train, task.y_train
    assert torch.equal(y[:, 0], x[:, 0])
    expected = x[:, :-1] if rule == "shift" else (x[:, :-1] + x[:, 1:]) % 10
    assert torch.equal(y[:, 1:], expected)


@pytest.mark.parametrize(
    "change, error",
    [
        ({"rule": "sort"}, ValueError),
        ({"depth": 0}, ValueError),
        ({"norm": "sandwich"}, ValueError),
        ({"variants": ("residual+norm", "no skips")}, ValueError),
        ({"variants": []}, TypeError),
        ({"d_model": 15}, ValueError),
        ({"seeds": ()}, TypeError),
        ({"target_loss": -1.0}, ValueError),
        ({"batch_size": 10_000}, ValueError),
    ],
)
def test_bad_configs_are_refused_naming_the_value(change, error):
    with pytest.raises(error):
        dataclasses.replace(DecoderConfig(), **change)


def test_without_norms_the_trained_stream_grows_more_at_every_seed(result):
    for seed, (plain, normed) in enumerate(
        zip(result.stream_growth["no norms"], result.stream_growth["residual+norm"], strict=True)
    ):
        assert plain > 2 * normed, f"seed {seed}: growth {plain:.2f} without norms, {normed:.2f} with"


def test_at_8_blocks_the_post_norm_decoder_is_no_slower_without_its_norms():
    """Lesson 4's LayerNorm half: post-norm, 8 blocks, Adam 1e-2: the norms do not speed it up."""
    config = DecoderConfig(depth=8, lr=1e-2, steps=100, variants=("residual+norm", "no norms"))
    deeper = run_decoder_ablation(config, progress_bar=False)
    assert deeper.reached("residual+norm") == deeper.reached("no norms") == len(config.seeds)
    normed, plain = deeper.steps_to_target["residual+norm"], deeper.steps_to_target["no norms"]
    assert sum(plain) <= 1.1 * sum(normed), f"{plain} steps without the norms against {normed}"
    for seed, (a, b) in enumerate(
        zip(deeper.stream_growth["no norms"], deeper.stream_growth["residual+norm"], strict=True)
    ):
        assert a > 2 * b, f"seed {seed}: stream growth {a:.2f} without norms, {b:.2f} with"


def test_under_sgd_at_rate_1_only_the_decoder_without_norms_blows_up_at_every_seed():
    """The mechanism lesson 4 claims: without the norms, SGD's steps and the gradient feed each other."""
    config = DecoderConfig(
        optimizer="sgd", lr=1.0, steps=20, log_every=1, variants=("residual+norm", "no norms")
    )
    sgd = run_decoder_ablation(config, progress_bar=False)
    assert all(step is not None for step in sgd.diverged_at["no norms"])
    assert all(step is None for step in sgd.diverged_at["residual+norm"])
    for run in sgd.grad_norms["residual+norm"]:
        assert len(run) == config.steps
        assert max(max(row) for row in run) < 5
    for run in sgd.grad_norms["no norms"]:  # the gradient grows by orders of magnitude before NaN/Inf
        largest = [max(row) for row in run]
        assert max(largest) > 100 * largest[0]


def test_adams_first_step_ignores_the_losss_scale_and_sgds_follows_it():
    sizes = first_step_sizes(DecoderConfig(), scales=(1.0, 100.0))
    assert sizes["sgd"][100.0] / sizes["sgd"][1.0] == pytest.approx(100, rel=1e-3)
    assert sizes["adam"][100.0] / sizes["adam"][1.0] == pytest.approx(1, rel=1e-3)
    # Adam's first step moves each weight by lr * sign(g): an rms of at most lr
    assert 0.5 * DecoderConfig().lr < sizes["adam"][1.0] <= DecoderConfig().lr * 1.0001


@pytest.mark.parametrize("name, optimizer", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam)])
def test_the_first_step_is_the_one_torch_optims_classes_take(name, optimizer):
    config = DecoderConfig()
    sizes = first_step_sizes(config, scales=(1.0, 100.0))
    task = make_causal_task()
    x, y = task.x_train[: config.batch_size], task.y_train[: config.batch_size]
    for scale in (1.0, 100.0):
        seed_everything(0)
        model = CausalDecoder(10, 8, config.depth, config.d_model, config.n_heads)
        before = torch.cat([p.detach().flatten() for p in model.parameters()])
        opt = optimizer(model.parameters(), lr=config.lr)
        loss = scale * torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        opt.step()
        after = torch.cat([p.detach().flatten() for p in model.parameters()])
        assert sizes[name][scale] == pytest.approx((after - before).pow(2).mean().sqrt().item(), rel=1e-4)
