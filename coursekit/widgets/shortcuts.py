"""Lesson 7: which skip trains. Shortcut variants over seeds (from runs made once), and the
gated shortcut's carry at init by gate bias and depth. Lesson 7b: the block orders' runs by seed."""

from __future__ import annotations

import functools
from functools import lru_cache

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..experiments import DenseNetResult, OrderResult, ShortcutResult
from ..experiments.shortcuts import gate_carry_by_block
from ..plots import plot_by_layer, plot_loss_curves
from .explorer import Explorer


def _runs_at_seed(
    shortcuts: ShortcutResult, densenet: DenseNetResult | None, seed_index: int
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """``{variant: final loss}`` and ``{variant: loss curve}`` at one seed, DenseNet included."""
    final = {v: losses[seed_index] for v, losses in shortcuts.final_loss.items()}
    curves = {v: by_seed[seed_index] for v, by_seed in shortcuts.curves_by_seed.items()}
    if densenet is not None and densenet.config.seeds == shortcuts.config.seeds:
        final["densenet"] = densenet.final_loss["densenet"][seed_index]
        curves["densenet"] = densenet.curves_by_seed["densenet"][seed_index]
    return final, curves


def shortcut_view(
    variant: str = "gated -1",
    seed: int = 0,
    shortcuts: ShortcutResult | None = None,
    densenet: DenseNetResult | None = None,
) -> tuple[str, Figure]:
    """Loss curves of ``variant`` against the identity and the plain net at ``seed``, from runs
    already made (``shortcuts``, optionally ``densenet``; by default the lesson's runs, trained
    once and cached). The summary gives the order of every variant at that seed."""
    if shortcuts is None:
        shortcuts, densenet = default_runs()
    seeds = shortcuts.config.seeds
    if seed not in seeds:
        raise ValueError(f"seed must be one of {seeds}, got {seed!r}")
    i = seeds.index(seed)
    final, curves = _runs_at_seed(shortcuts, densenet, i)
    if variant not in final:
        raise ValueError(f"variant must be one of {', '.join(final)}, got {variant!r}")
    order = sorted(final, key=final.get)
    shown = {v: curves[v] for v in dict.fromkeys(("identity", "none", variant))}
    figure = plot_loss_curves(shown, f"Depth {shortcuts.config.depth}, seed {seed}")
    summary = (
        f"seed {seed} | {variant}: final loss {final[variant]:.2g} (rank {order.index(variant) + 1} "
        f"of {len(order)}) | lowest to highest: " + " < ".join(order)
    )
    return summary, figure


@lru_cache(maxsize=1)
def default_runs() -> tuple[ShortcutResult, DenseNetResult]:
    """The lesson's shortcut and DenseNet runs at their defaults, in one engine call (about 20 s
    on the slow reference machine, once per kernel)."""
    from ..experiments import run_densenet_and_shortcuts

    densenet, shortcuts = run_densenet_and_shortcuts(progress_bar=True)
    return shortcuts, densenet


def shortcut_explorer(shortcuts: ShortcutResult, densenet: DenseNetResult | None = None) -> Explorer:
    """A variant menu and a seed menu over :func:`shortcut_view`, on runs already made."""
    final, _ = _runs_at_seed(shortcuts, densenet, 0)
    start = "gated -1" if "gated -1" in final else list(final)[-1]
    variant = widgets.Dropdown(options=list(final), value=start, description="shortcut")
    seed = widgets.Dropdown(options=list(shortcuts.config.seeds), description="seed")
    view = functools.partial(shortcut_view, shortcuts=shortcuts, densenet=densenet)
    return Explorer(view, variant=variant, seed=seed)


@lru_cache(maxsize=128)
def _carry(depth: int, gate_bias: float) -> tuple[float, ...]:
    return tuple(gate_carry_by_block(depth, gate_bias))


def gate_carry_view(gate_bias: float = -1.0, depth: int = 24) -> tuple[str, Figure]:
    """At init, the fraction of the input the shortcut path alone carries past each block: a
    gated shortcut with ``gate_bias``, against the identity (1) and the × 0.5 shortcut."""
    gated = list(_carry(depth, float(gate_bias)))
    series = {
        "identity": [1.0] * depth,
        f"gated, bias {gate_bias:g}": gated,
        "scaled × 0.5": [0.5 ** (layer + 1) for layer in range(depth)],
    }
    figure = plot_by_layer(series, "fraction of the input carried", "The shortcut path at init", log=True)
    summary = (
        f"depth {depth} | gated, bias {gate_bias:g}: {gated[0]:.3g} per block, {gated[-1]:.2g} after "
        f"{depth} blocks | scaled × 0.5: {0.5**depth:.2g} | identity: 1"
    )
    return summary, figure


def gate_carry_explorer(gate_bias: float = -1.0, depth: int = 24) -> Explorer:
    """Sliders for the gate bias and the depth over :func:`gate_carry_view`."""
    bias = widgets.FloatSlider(
        value=gate_bias, min=-8, max=0, step=1, description="gate bias", continuous_update=False
    )
    layers = widgets.IntSlider(
        value=depth, min=2, max=64, step=2, description="depth", continuous_update=False
    )
    return Explorer(gate_carry_view, gate_bias=bias, depth=layers)


def block_order_view(order: str, seed: int, orders: OrderResult) -> tuple[str, Figure]:
    """Loss curves of every block order at ``seed``, from runs already made (``orders``); the
    summary gives ``order``'s numbers and the ranking of all orders at that seed."""
    seeds = orders.config.seeds
    if seed not in seeds:
        raise ValueError(f"seed must be one of {seeds}, got {seed!r}")
    if order not in orders.config.orders:
        raise ValueError(f"order must be one of {', '.join(orders.config.orders)}, got {order!r}")
    i = seeds.index(seed)
    curves = {o: orders.loss_curves[o][i] for o in orders.config.orders}
    figure = plot_loss_curves(curves, f"Block orders, {orders.config.depth} blocks, seed {seed}")
    summary = (
        f"seed {seed} | {order}: final loss {orders.final_loss[order][i]:.2g}, held-out error "
        f"{orders.test_error[order][i]:.2g} % | held-out error, lowest to highest: "
        + " < ".join(orders.ranking(i, "test_error"))
    )
    return summary, figure


def block_order_explorer(orders: OrderResult) -> Explorer:
    """An order menu and a seed menu over :func:`block_order_view`, on runs already made."""
    order = widgets.Dropdown(
        options=list(orders.config.orders), value=orders.config.orders[-1], description="order"
    )
    seed = widgets.Dropdown(options=list(orders.config.seeds), description="seed")
    return Explorer(functools.partial(block_order_view, orders=orders), order=order, seed=seed)
