"""Lesson 7's experiments: shortcuts, DenseNet, block orders and the un-normalised stream, over seeds.

Directions only (He et al. 2016; Huang et al. 2017; Bachlechner et al. 2020), never one
machine's numbers. The training runs use fewer epochs than the lesson, which is enough for
every direction pinned here.
"""

import math

import pytest
import torch

from coursekit.experiments import (
    DenseNet,
    DenseNetConfig,
    OrderConfig,
    ShortcutConfig,
    StreamGrowthConfig,
    run_block_orders,
    run_densenet,
    run_densenet_and_shortcuts,
    run_shortcuts,
    run_stream_growth,
)
from coursekit.experiments.densenet import dense_connections
from coursekit.experiments.models import BatchNormBlock, BatchNormNet
from coursekit.experiments.preactivation import ORDERS, OrderedBlock, OrderedNet

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def shortcuts():
    return run_shortcuts(ShortcutConfig(depth=24, epochs=5, seeds=SEEDS), progress_bar=False)  # the lesson's


def test_identity_beats_every_other_shortcut_at_every_seed(shortcuts):
    loss = shortcuts.final_loss
    for i, seed in enumerate(SEEDS):
        others = {v: loss[v][i] for v in loss if v != "identity"}
        assert all(loss["identity"][i] < value for value in others.values()), (seed, loss)
    assert shortcuts.identity_wins_every_seed()
    assert shortcuts.diverged == 0


def test_the_gate_leads_early_and_the_identity_overtakes_it(shortcuts):
    """Why 5 epochs: over epochs 2 and 3 the gate with bias −6 has the lower loss at every seed;
    over the fifth, the identity (at 24 blocks it overtakes in the third or fourth epoch; at 4
    epochs its lead is thin at some seeds, docs/science.md)."""
    steps = len(shortcuts.curves_by_seed["identity"][0])
    per_epoch = steps // shortcuts.config.epochs

    def mean(curve, first, end):
        return sum(curve[first * per_epoch : end * per_epoch]) / ((end - first) * per_epoch)

    curves = shortcuts.curves_by_seed
    for identity, gate in zip(curves["identity"], curves["gated -6"], strict=True):
        assert mean(gate, 1, 3) < mean(identity, 1, 3)
        assert mean(identity, 4, 5) < mean(gate, 4, 5)


def test_gate_bias_minus_six_trains_where_minus_one_does_not(shortcuts):
    """He et al. 2016: exclusive gating trains with bias −6 and fails with 0 to −5. Here, at 24
    blocks, bias −1 ends about twice as high as −6 and nearer the plain net than the identity."""
    loss = shortcuts.final_loss
    assert all(a < 0.55 * b for a, b in zip(loss["gated -6"], loss["gated -1"], strict=True)), loss
    for gate, plain, identity in zip(loss["gated -1"], loss["none"], loss["identity"], strict=True):
        assert abs(gate - plain) < abs(gate - identity), loss
    # at init a bias of −1 leaves the shortcut path almost nothing; −6 almost everything
    assert shortcuts.carry["gated -1"] < 1e-3 < 0.8 < shortcuts.carry["gated -6"] <= 1
    assert shortcuts.carry["scaled"] == pytest.approx(0.5**24)


def test_shortcut_parameter_counts(shortcuts):
    p = shortcuts.parameters
    assert p["none"] == p["identity"] == p["scaled"] < p["gated -1"] == p["gated -6"] < p["projected"]
    assert set(shortcuts.curves_by_seed) == set(shortcuts.config.variants)
    assert all(len(curves) == len(SEEDS) for curves in shortcuts.curves_by_seed.values())


def test_gate_bias_is_a_constructor_argument():
    block = BatchNormBlock(8, "gated", gate_bias=-6)
    assert torch.equal(block.gate.bias, torch.full((8,), -6.0))
    net = BatchNormNet(3, 8, shortcut="gated", gate_bias=-2.5)
    assert all(torch.equal(b.gate.bias, torch.full((8,), -2.5)) for b in net.blocks)
    with pytest.raises(TypeError, match="gate_bias"):
        BatchNormBlock(8, "gated", gate_bias="-6")
    with pytest.raises(ValueError, match="concat"):
        BatchNormBlock(8, "concat")  # the projected merge is called what it is


def test_the_additive_shortcuts_share_a_structure_and_the_relu_placement_does_not():
    """One net for lessons 1, 5 and 7: the additive shortcuts train as one stack, while the
    basic block's ReLU after the sum (a setting no parameter shows) makes another structure."""
    from coursekit.engine import structure

    nets = {s: BatchNormNet(2, 8, shortcut=s) for s in ("none", "identity", "scaled")}
    assert len({structure(n) for n in nets.values()}) == 1
    one_layer = BatchNormNet(2, 8, post_relu=True)
    assert structure(one_layer) != structure(nets["identity"])
    assert "post_relu=True" in repr(one_layer.blocks[0])
    with pytest.raises(TypeError, match="post_relu"):
        BatchNormBlock(8, post_relu=1)


@pytest.mark.parametrize("shortcut", ["none", "identity", "scaled", "gated", "projected"])
@pytest.mark.parametrize(("layers", "post_relu"), [(1, False), (2, True)])
def test_batchnorm_block_forward_stacked_agrees_with_forward(shortcut, layers, post_relu):
    torch.manual_seed(0)
    blocks = [BatchNormBlock(6, shortcut, gate_bias=-3, layers=layers, post_relu=post_relu) for _ in range(2)]
    x = torch.randn(2, 16, 6)  # (variant, batch, width)
    p = {}
    for name, _ in [*blocks[0].named_parameters(), *blocks[0].named_buffers()]:
        p[name] = torch.stack([dict([*b.named_parameters(), *b.named_buffers()])[name] for b in blocks])
    stacked = blocks[0].forward_stacked(p, "", x)
    for v, block in enumerate(blocks):
        torch.testing.assert_close(stacked[v], block(x[v]), rtol=1e-5, atol=1e-5)


def test_densenet_width_grows_by_k_per_layer():
    net = DenseNet(depth=5, growth=7, width=10)
    assert net.widths == [10, 17, 24, 31, 38, 45]
    assert [b.linear.in_features for b in net.blocks] == [10 + 7 * i for i in range(5)]
    assert all(b.linear.out_features == 7 for b in net.blocks)
    assert net(torch.randn(4, 64)).shape == (4, 10)
    assert dense_connections(5) == 15  # L(L+1)/2
    # every layer's input is the stem's features followed by every earlier layer's output
    inputs, outputs = [], []
    for block in net.blocks:
        block.register_forward_hook(lambda m, args, out: inputs.append(args[0]) or outputs.append(out))
    x = torch.randn(8, 64)
    with torch.no_grad():
        net(x)
        stem = net.stem(x)
    for i, seen in enumerate(inputs):
        torch.testing.assert_close(seen, torch.cat([stem, *outputs[:i]], dim=-1))


def assert_stacked_forward_agrees(nets: list, x: torch.Tensor) -> None:
    """``nets[0].forward_stacked`` on the nets' parameters stacked gives each net's own forward."""
    p = {
        name: torch.stack([dict(n.named_parameters())[name] for n in nets])
        for name, _ in nets[0].named_parameters()
    }
    stacked = nets[0].forward_stacked(p, x)
    for v, net in enumerate(nets):
        torch.testing.assert_close(stacked[v], net(x), rtol=1e-5, atol=1e-5)


def test_densenet_forward_stacked_agrees_with_forward():
    torch.manual_seed(0)
    nets = [DenseNet(depth=4, growth=5, width=8) for _ in range(3)]
    assert_stacked_forward_agrees(nets, torch.randn(16, 64))


def test_densenet_trains_like_the_residual_net_and_far_better_than_plain_or_projected():
    result = run_densenet(DenseNetConfig(depth=24, epochs=4, seeds=SEEDS), progress_bar=False)
    loss = result.final_loss
    assert list(loss) == ["densenet", "residual", "projected", "plain"]
    for i in range(len(SEEDS)):
        assert loss["densenet"][i] < 0.5 * min(loss["plain"][i], loss["projected"][i]), loss
        assert loss["densenet"][i] < 2 * loss["residual"][i], loss
    assert result.widths[0] == 64 and result.widths[-1] == 64 + 24 * 12
    assert result.connections == 24 * 25 // 2
    assert result.parameters["densenet"] < result.parameters["projected"]
    assert result.diverged == 0


@pytest.mark.parametrize("order", ORDERS)
def test_ordered_net_forward_stacked_agrees_with_forward(order):
    torch.manual_seed(0)
    nets = [OrderedNet(3, order, width=8, d_in=5) for _ in range(3)]
    assert_stacked_forward_agrees(nets, torch.randn(16, 5))


def test_densenet_and_shortcuts_in_one_engine_call_give_the_numbers_of_each_alone():
    dense_config = DenseNetConfig(depth=4, epochs=1, seeds=(0, 1), baselines=("residual",))
    shortcut_config = ShortcutConfig(depth=4, epochs=1, seeds=(0, 1))
    dense, shortcuts = run_densenet_and_shortcuts(dense_config, shortcut_config, progress_bar=False)
    alone = run_densenet(dense_config, progress_bar=False), run_shortcuts(shortcut_config, progress_bar=False)
    for together, apart in zip((dense, shortcuts), alone, strict=True):
        assert together.final_loss == apart.final_loss
        assert together.train_error == apart.train_error
        assert together.curves_by_seed == apart.curves_by_seed
        assert together.parameters == apart.parameters
    assert shortcuts.carry == pytest.approx(alone[1].carry, nan_ok=True)
    assert dense.widths == alone[0].widths and dense.connections == alone[0].connections


def test_densenet_baselines_are_optional():
    result = run_densenet(DenseNetConfig(depth=3, epochs=1, seeds=(0,), baselines=()), progress_bar=False)
    assert list(result.final_loss) == ["densenet"]


def test_stream_grows_without_scaling_and_stays_near_one_with_rezero():
    result = run_stream_growth(StreamGrowthConfig(depth=30, seeds=SEEDS))
    identity, scaled, rezero = (result.final(v) for v in ("identity", "1/sqrt(L)", "rezero"))
    assert all(r > 1e3 for r in identity), identity
    assert all(r < 2.5 for r in scaled), scaled
    assert rezero == pytest.approx([1.0] * 3)
    # the variance sum predicts √2^L for the identity stream: right within a factor of 4
    assert all(0.25 < r / result.predicted["identity"] < 4 for r in identity)
    for by_seed in result.rms["identity"]:
        assert by_seed == sorted(by_seed)  # grows at every block


@pytest.mark.parametrize("depth, seed", [(1, 0), (7, 3), (40, 1)])
def test_stream_variants_run_on_one_stack_as_on_their_own(depth, seed):
    """run_stream_growth builds one stack and runs each variant's factor on its blocks' MLPs:
    the numbers must be those of each variant's own Stack, seeded alike, to the last bit."""
    from coursekit.experiments.stream import he_init
    from coursekit.nn import Stack, StackConfig
    from coursekit.probes import stream_norms
    from coursekit.seeding import seed_everything

    options = {"identity": {}, "1/sqrt(L)": {"branch_scale": 1 / math.sqrt(depth)}, "rezero": {"gate": True}}
    x = torch.randn(256, 64, generator=torch.Generator().manual_seed(seed))
    own = {}
    for name, extra in options.items():
        seed_everything(seed)
        stack = he_init(Stack(StackConfig(depth, 64, norm="none", activation="relu", **extra)))
        own[name] = stream_norms(stack, x)
    assert run_stream_growth(StreamGrowthConfig(depth=depth, seeds=(seed,))).curves(0) == own


def test_stream_seeds_are_independent_runs():
    from coursekit.experiments.stream import _streams

    _streams.cache_clear()  # each seed computed afresh, not read back from the first call
    both = run_stream_growth(StreamGrowthConfig(depth=12, seeds=(3, 4)))
    _streams.cache_clear()
    alone = run_stream_growth(StreamGrowthConfig(depth=12, seeds=(4,)))
    assert both.curves(1) == alone.curves(0)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ShortcutConfig(gate_biases=(-1.0, -1.0)), "gate_biases"),
        (lambda: ShortcutConfig(gate_biases=(math.nan,)), "gate_biases"),
        (lambda: ShortcutConfig(seeds=()), "seeds"),
        (lambda: ShortcutConfig(scale=0), "scale"),
        (lambda: DenseNetConfig(growth=0), "growth"),
        (lambda: DenseNetConfig(baselines=("resnet",)), "baselines"),
        (lambda: StreamGrowthConfig(depth=0), "depth"),
        (lambda: DenseNet(depth=3, growth=-1), "growth"),
        (lambda: OrderConfig(orders=("post-activation",)), "orders"),
        (lambda: OrderConfig(orders=()), "orders"),
        (lambda: OrderedBlock(8, order="pre"), "order"),
    ],
)
def test_bad_configs_name_the_value(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_block_orders_with_a_zero_branch_show_what_sits_on_the_shortcut():
    """With W2 = 0 the branch adds nothing: what is left is the shortcut path of each order."""
    torch.manual_seed(0)
    x = torch.randn(32, 8)
    blocks = {order: OrderedBlock(8, order) for order in ORDERS}
    for block in blocks.values():
        torch.nn.init.zeros_(block.fc2.weight)
    torch.testing.assert_close(blocks["full pre-activation"](x), x)  # a pure sum: x itself
    torch.testing.assert_close(blocks["original"](x), torch.relu(x))  # a ReLU on the path
    norm = torch.nn.functional.batch_norm(x, None, None, training=True, eps=1e-5)
    torch.testing.assert_close(blocks["BN after addition"](x), torch.relu(norm))  # BN and ReLU on it
    net = OrderedNet(3, "full pre-activation", width=8, d_in=5)
    assert net(torch.randn(4, 5)).shape == (4, 10) and isinstance(net.final[0], torch.nn.BatchNorm1d)


def test_block_orders_bn_after_addition_worst_preactivation_generalises_best():
    """The lesson's run (16 blocks, 10 epochs, 3 seeds): BN after the addition has the highest
    training loss and held-out error at every seed; the original the lowest training loss at
    every seed; full pre-activation a lower held-out error than the original on average."""
    result = run_block_orders(OrderConfig(), progress_bar=False)
    for i in range(len(result.config.seeds)):
        assert result.ranking(i)[-1] == "BN after addition", result.final_loss
        assert result.ranking(i, "test_error")[-1] == "BN after addition", result.test_error
    assert result.lowest_at_every_seed("original"), result.final_loss
    pre, original = (sum(result.test_error[o]) for o in ("full pre-activation", "original"))
    assert pre < original, result.test_error
