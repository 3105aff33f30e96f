"""The batched engine trains each variant as it would train alone (train_model), in every
layout it takes: stacked, depth sweeps, runs side by side, any thread count."""

import math

import pytest
import torch
from torch import nn

from coursekit import build_stack
from coursekit.data import Task, load_digits, make_sort
from coursekit.engine import train_many
from coursekit.experiments.models import BatchNormNet
from coursekit.training import TrainConfig, train_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _twins(seeds=(0, 1), shortcuts=("none", "identity"), depth=4):
    models = []
    for seed in seeds:
        for shortcut in shortcuts:
            torch.manual_seed(seed)
            models.append(BatchNormNet(depth, 32, shortcut=shortcut))
    return models


# Adam divides by the root of a running mean of squared gradients, so float rounding in the
# first steps (1e-7) is amplified in a BatchNorm net within a few steps: compare it over 3 steps.
@pytest.mark.parametrize("optimizer, momentum, steps", [("sgd", 0.0, 12), ("sgd", 0.9, 12), ("adam", 0.0, 3)])
def test_batched_run_matches_training_each_variant_alone(digits, optimizer, momentum, steps):
    lr = 0.01 if optimizer == "adam" else 0.05
    common = {"steps": steps, "batch_size": 64, "optimizer": optimizer, "momentum": momentum, "log_every": 4}
    configs = [
        TrainConfig(lr=lr, **common),
        TrainConfig(lr=lr / 2, warmup_steps=2, schedule="cosine", **common),
    ] * 2
    batched, alone = _twins(), _twins()
    together = train_many(batched, digits, configs, progress_bar=False)
    for model, config, run in zip(alone, configs, together, strict=True):
        single = train_model(model, digits, config, progress_bar=False)
        torch.testing.assert_close(run.loss, single.loss, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(run.grad_norms, single.grad_norms, rtol=1e-3, atol=1e-5)
        assert run.steps_logged == single.steps_logged == sorted({*range(0, steps, 4), steps - 1})
        assert run.accuracy == pytest.approx(single.accuracy, abs=1e-6)
    for a, b in zip(batched, alone, strict=True):
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            # Adam moves near-zero (rounding-noise) gradients by up to a full step of lr
            torch.testing.assert_close(pa, pb, rtol=1e-3, atol=1e-4 if optimizer == "sgd" else lr / 5)


def test_records_plain_numbers_per_block(digits):
    (run,) = train_many(
        _twins(seeds=(0,), shortcuts=("identity",), depth=3),
        digits,
        TrainConfig(steps=5, log_every=2),
        progress_bar=False,
    )
    assert len(run.loss) == 5 and all(isinstance(v, float) for v in run.loss)
    assert len(run.grad_norms) == 3 and all(len(row) == 3 for row in run.grad_norms)
    assert all(v > 0 for row in run.grad_norms for v in row)
    assert run.diverged_at is None and math.isfinite(run.final_loss)


def test_training_lowers_the_loss(digits):
    (run,) = train_many(
        _twins(seeds=(0,), shortcuts=("identity",)),
        digits,
        TrainConfig(steps=60, lr=0.05),
        progress_bar=False,
    )
    assert run.final_loss < 0.5 * run.loss[0]


class Blowup(nn.Module):
    """Logits times a huge buffer: a large learning rate turns its loss to Inf/NaN."""

    def __init__(self, gain: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(64, 10)])
        self.register_buffer("gain", torch.tensor(gain))

    def forward(self, x):
        return self.blocks[0](x) * self.gain


def test_a_diverging_variant_stops_and_the_others_go_on(digits):
    torch.manual_seed(0)
    models = [Blowup(1.0), Blowup(1e30)]
    models[1].load_state_dict(models[0].state_dict() | {"gain": torch.tensor(1e30)})
    ok, bad = train_many(models, digits, TrainConfig(steps=20, lr=0.1), progress_bar=False)
    assert bad.diverged_at is not None and bad.diverged_at < 20
    assert len(bad.loss) == bad.diverged_at and math.isnan(bad.final_loss)
    assert ok.diverged_at is None and len(ok.loss) == 20
    assert all(torch.isfinite(p).all() for p in models[1].parameters())
    single = train_model(Blowup(1e30), digits, TrainConfig(steps=20, lr=0.1), progress_bar=False)
    assert single.diverged_at is not None


@pytest.mark.parametrize(
    ("norm", "residual", "activation"),
    [("post", True, "gelu"), ("pre", True, "relu"), ("none", True, "gelu"), ("pre", False, "gelu")],
)
def test_token_transformer_trains_in_a_batch_as_each_model_alone(norm, residual, activation):
    """TokenTransformer.forward_stacked (every placement, with and without skips) trains each
    variant as train_model trains it alone."""
    from coursekit import StackConfig
    from coursekit.experiments.models import TokenTransformer

    task = make_sort(n_train=64, n_test=8, length=4)
    config = TrainConfig(steps=4, batch_size=16, lr=0.1, momentum=0.9, log_every=2)
    stack = StackConfig(2, 16, block="transformer", norm=norm, residual=residual, activation=activation)

    def models():
        out = []
        for seed in (0, 1, 2):
            torch.manual_seed(seed)
            out.append(TokenTransformer(stack, 10, 4))
        return out

    together = train_many(models(), task, config, progress_bar=False)
    for model, run in zip(models(), together, strict=True):
        single = train_model(model, task, config, progress_bar=False)
        torch.testing.assert_close(run.loss, single.loss, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(run.grad_norms, single.grad_norms, rtol=1e-3, atol=1e-6)


def test_token_transformers_of_several_depths_train_in_one_sweep_as_alone():
    """train_depth_sweep with TokenTransformer (forward_stacked's active=): depths 1, 3 and 2 in
    one run give what each gets alone, with one gradient norm per block of its own."""
    from coursekit import StackConfig
    from coursekit.engine import train_depth_sweep
    from coursekit.experiments.models import TokenTransformer

    task = make_sort(n_train=64, n_test=8, length=4)
    config = TrainConfig(steps=4, batch_size=16, lr=0.01, optimizer="adam", log_every=2)

    def model(depth: int) -> TokenTransformer:
        torch.manual_seed(depth)
        return TokenTransformer(StackConfig(depth, 16, block="transformer", norm="post"), 10, 4)

    together = train_depth_sweep([model(d) for d in (1, 3, 2)], task, config, progress_bar=False)
    for depth, run in zip((1, 3, 2), together, strict=True):
        (alone,) = train_many([model(depth)], task, config, progress_bar=False)
        torch.testing.assert_close(run.loss, alone.loss, rtol=1e-5, atol=1e-6)
        assert [len(n) for n in run.grad_norms] == [depth] * len(run.grad_norms)


def test_sequence_task_trains_in_a_batch():
    from coursekit import StackConfig
    from coursekit.experiments.models import TokenTransformer

    task = make_sort(n_train=64, n_test=8, length=4)
    torch.manual_seed(0)
    models = [TokenTransformer(StackConfig(2, 16, block="transformer", norm="pre"), 10, 4) for _ in range(2)]
    runs = train_many(
        models, task, TrainConfig(steps=3, batch_size=16, optimizer="adam", lr=1e-3), progress_bar=False
    )
    assert all(len(r.grad_norms[0]) == 2 for r in runs)


def test_train_many_stacks_each_structure_apart_with_the_numbers_each_stack_gets_alone(digits):
    """A learner's plain and residual arms in one call: one stack per structure, results in the
    caller's order, each model's numbers bit for bit those of its own train_many call."""
    config = TrainConfig(steps=4, batch_size=32, lr=0.05, log_every=2)

    def nets():  # interleaved: gated, identity, gated, identity
        identity, gated = _digits_nets("identity", (0, 1)), _digits_nets("gated", (0, 1))
        return [gated[0], identity[0], gated[1], identity[1]]

    together = train_many(nets(), digits, config, progress_bar=False)
    mixed = nets()
    identity = train_many(mixed[1::2], digits, config, progress_bar=False)
    gated = train_many(mixed[0::2], digits, config, progress_bar=False)
    for run, ref in zip(together, [gated[0], identity[0], gated[1], identity[1]], strict=True):
        assert run.loss == ref.loss and run.grad_norms == ref.grad_norms
    assert together[0].loss != together[1].loss  # the two structures really trained apart


def test_train_many_refuses_configs_that_differ_in_a_shared_setting(digits):
    with pytest.raises(ValueError, match="differ only"):  # even across two structures
        train_many(
            [BatchNormNet(2, 16), BatchNormNet(3, 16)],
            digits,
            [TrainConfig(steps=1), TrainConfig(steps=2)],
            progress_bar=False,
        )
    with pytest.raises(ValueError, match="differ only"):
        train_many(
            _twins(seeds=(0,)), digits, [TrainConfig(steps=1), TrainConfig(steps=2)], progress_bar=False
        )
    with pytest.raises(TypeError, match="Task|task|Module"):
        train_model("not a model", Task("x", *[torch.zeros(1)] * 4, n_classes=2), TrainConfig())


def _stack_net(**options) -> torch.nn.Module:
    """A digits classifier around a coursekit Stack (64 pixels in, 10 classes out)."""
    return torch.nn.Sequential(build_stack(2, 64, **options), torch.nn.Linear(64, 10))


class _LearnerNet(nn.Module):
    """A learner-style class: the skip switch is a plain attribute that no tensor or repr shows."""

    def __init__(self, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.fc = nn.Linear(64, 64)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc(x))
        return self.head(x + h if self.residual else h)


def test_train_many_refuses_variants_that_differ_in_a_setting_no_tensor_shows(digits):
    """One shared forward would otherwise train the residual twin as the plain one."""
    # the library's blocks show residual in their repr: two structures, one stack each
    plain, residual = train_many(
        [_stack_net(residual=False), _stack_net(residual=True)],
        digits,
        TrainConfig(steps=2),
        progress_bar=False,
    )
    assert plain.loss != residual.loss
    with pytest.raises(ValueError, match=r"models\[1\] computes something else"):
        train_many([_LearnerNet(False), _LearnerNet(True)], digits, TrainConfig(steps=1), progress_bar=False)
    runs = train_many(
        [_LearnerNet(True), _LearnerNet(True)], digits, TrainConfig(steps=2), progress_bar=False
    )
    assert all(len(r.loss) == 2 for r in runs)


def test_rezero_gates_train_in_a_batch_as_they_do_alone(digits):
    """Scalar parameters (the ReZero gate) stack to shape (variant,)."""
    config = TrainConfig(steps=3, batch_size=32, lr=0.05, log_every=1)

    def models():
        return [_seeded(_stack_net, seed, gate=True) for seed in (0, 1)]

    together = train_many(models(), digits, config, progress_bar=False)
    for model, run in zip(models(), together, strict=True):
        single = train_model(model, digits, config, progress_bar=False)
        torch.testing.assert_close(run.loss, single.loss, rtol=1e-4, atol=1e-5)


def _seeded(make, seed: int, **options) -> torch.nn.Module:
    torch.manual_seed(seed)
    return make(**options)


def test_a_depth_sweep_trains_in_one_run_as_each_depth_alone(digits):
    """train_depth_sweep: depths 2, 4 and 3 (plain and residual) in one batched run give what
    train_many gives each depth on its own, and each its own number of block gradient norms."""
    from coursekit.engine import train_depth_sweep

    config = TrainConfig(steps=6, batch_size=64, lr=0.05, momentum=0.9, log_every=2)

    def build():
        return [
            _seeded(BatchNormNet, seed, depth=d, width=16, shortcut=s)
            for d, s, seed in [(2, "none", 0), (4, "identity", 1), (3, "none", 2), (4, "none", 3)]
        ]

    swept, alone = build(), build()
    together = train_depth_sweep(swept, digits, config, progress_bar=False)
    for model, run, own in zip(alone, together, swept, strict=True):
        (single,) = train_many([model], digits, config, progress_bar=False)
        assert run.loss == single.loss
        torch.testing.assert_close(run.grad_norms, single.grad_norms, rtol=1e-6, atol=1e-8)
        assert len(run.grad_norms[0]) == len(model.blocks)
        for pa, pb in zip(own.parameters(), model.parameters(), strict=True):
            torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="depth sweep"):
        train_depth_sweep([BatchNormNet(2, 16), BatchNormNet(3, 32)], digits, config, progress_bar=False)


def _digits_nets(shortcut: str, seeds=(0, 1, 2)) -> list[torch.nn.Module]:
    from coursekit.experiments.models import BatchNormNet

    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        out.append(BatchNormNet(3, 16, shortcut=shortcut))
    return out


def _transformers(n: int = 5) -> list[torch.nn.Module]:
    from coursekit import StackConfig
    from coursekit.experiments.models import TokenTransformer

    torch.manual_seed(0)
    return [TokenTransformer(StackConfig(2, 16, block="transformer", norm="pre"), 10, 4) for _ in range(n)]


@pytest.mark.parametrize("threads", [2, 3, 5])
def test_with_forward_stacked_the_thread_count_changes_the_speed_not_the_training(digits, threads):
    """Each variant trains the same, to the last bit, however the variants are dealt out: the
    digits nets' fused stack and the transformers' stacked ops compute each variant alone. (The
    logged gradient norms are sums over a group's rows, whose order can move their last bits.)"""
    config = TrainConfig(steps=5, batch_size=32, lr=0.05, log_every=2)
    sort = make_sort(n_train=64, n_test=8, length=4)
    digits_nets = lambda: _digits_nets("identity") + _digits_nets("none")  # noqa: E731
    for models, task in ((digits_nets, digits), (_transformers, sort)):
        reference = train_many(models(), task, config, progress_bar=False, threads=1)
        runs = train_many(models(), task, config, progress_bar=False, threads=threads)
        for run, ref in zip(runs, reference, strict=True):
            assert run.loss == ref.loss and run.accuracy == ref.accuracy
            torch.testing.assert_close(run.grad_norms, ref.grad_norms, rtol=1e-5, atol=0)


def test_runs_side_by_side_give_what_each_run_gives_alone(digits):
    """Two structures (additive and gated shortcuts) and a depth sweep, trained side by side."""
    from coursekit.engine import train_depth_sweep, train_side_by_side
    from coursekit.experiments.models import BatchNormNet

    config = TrainConfig(steps=4, batch_size=32, lr=0.05, log_every=2)

    def sweep():
        torch.manual_seed(7)
        return [BatchNormNet(d, 16) for d in (1, 4, 2)]

    together = train_side_by_side(
        [(_digits_nets("identity"), config), (_digits_nets("gated", (0, 1)), config), (sweep(), config)],
        digits,
        progress_bar=False,
    )
    alone = [
        train_many(_digits_nets("identity"), digits, config, progress_bar=False),
        train_many(_digits_nets("gated", (0, 1)), digits, config, progress_bar=False),
        train_depth_sweep(sweep(), digits, config, progress_bar=False),
    ]
    assert [len(r) for r in together] == [3, 2, 3]
    for runs, refs in zip(together, alone, strict=True):
        for run, ref in zip(runs, refs, strict=True):
            assert run.loss == ref.loss and run.grad_norms == ref.grad_norms


def test_side_by_side_refuses_mixed_structures_within_a_run(digits):
    from coursekit.engine import train_side_by_side

    mixed = _digits_nets("identity", (0,)) + _digits_nets("gated", (0,))
    with pytest.raises(ValueError, match="one structure"):
        train_side_by_side([(mixed, TrainConfig(steps=1))], digits, progress_bar=False)
    with pytest.raises(TypeError, match=r"\(models, config\) pair"):
        train_side_by_side([mixed], digits, progress_bar=False)
    with pytest.raises(ValueError, match="at least one"):
        train_side_by_side([], digits, progress_bar=False)


def test_the_plan_deals_every_variant_once_in_about_equal_shares():
    """McNaughton's rule: contiguous pieces, shares within one variant of equal, few cuts."""
    from coursekit.engine.threads import plan as _plan

    class Sized:
        def __init__(self, work):
            self.work = work

    jobs = [Sized([5] * 9), Sized([10] * 6), Sized([3, 2, 1])]
    for threads in (1, 2, 3, 4):
        plan = _plan(jobs, threads)  # type: ignore[arg-type]
        dealt = sorted((k, v) for pieces in plan for k, first, end in pieces for v in range(first, end))
        assert dealt == sorted((k, v) for k, job in enumerate(jobs) for v in range(len(job.work)))
        shares = [sum(sum(jobs[k].work[first:end]) for k, first, end in pieces) for pieces in plan]
        assert len(plan) == threads and max(shares) - min(shares) <= 10
        assert sum(len(pieces) for pieces in plan) <= len(jobs) + threads - 1


@pytest.mark.parametrize("threads", [1, 2, 3, 7])
def test_map_side_by_side_gives_the_plain_loop_in_order(threads):
    """Held-out losses of several models, however the items are dealt out: exactly the loop's."""
    from coursekit.engine import map_side_by_side

    task = make_sort(n_train=16, n_test=64, length=4)
    models = _transformers(5)

    def loss(model):
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(
                model(task.x_test).flatten(0, 1), task.y_test.flatten()
            ).item()

    assert map_side_by_side(loss, models, threads=threads) == [loss(m) for m in models]
    assert map_side_by_side(loss, [], threads=threads) == []
    with pytest.raises(ValueError, match="threads"):
        map_side_by_side(loss, models, threads=0)


def test_a_depth_sweeps_optimizer_steps_only_the_weights_each_variant_has():
    """The flat buffer's columns a shallower variant does not use (the blocks it lacks) are left
    out of its optimizer step; the runs of equal depth share one region per range of columns."""
    from coursekit.engine.optimizer import used_regions as _used_regions

    names = ["stem.w", "blocks.0.w", "blocks.0.b", "blocks.1.w", "blocks.2.w", "head.w"]
    sizes = [4, 3, 1, 3, 3, 2]
    prefixes = ["blocks.0.", "blocks.1.", "blocks.2."]
    regions = _used_regions(names, sizes, prefixes, [3, 3, 1, 1, 2])
    as_ranges = [((r.start, r.stop), (c.start, c.stop)) for r, c in regions]
    assert as_ranges == [
        ((0, 2), (0, 16)),  # depth 3: every column
        ((2, 4), (0, 8)),  # depth 1: stem and block 0 ...
        ((2, 4), (14, 16)),  # ... and the head
        ((4, 5), (0, 11)),  # depth 2: stem, blocks 0 and 1 ...
        ((4, 5), (14, 16)),  # ... and the head
    ]
