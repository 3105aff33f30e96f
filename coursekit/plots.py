"""Plots of the experiments' numbers: each function takes numbers, returns a labelled figure.

Figures are built with ``matplotlib.figure.Figure`` rather than ``pyplot``, so nothing stays
open behind the notebook's back; Jupyter shows a returned figure. The generic plots
(:func:`plot_loss_curves`, :func:`plot_by_layer`, :func:`plot_by_depth`,
:func:`plot_grad_norm_heatmap`, :func:`plot_lesion`) do the drawing; the ``plot_<experiment>``
functions only pick the numbers and the labels. :func:`span` writes a range over seeds as the
lessons print it beside their figures.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.ticker import NullLocator

from .experiments import DegradationResult, LesionResult, ShatteredResult, ShortcutResult, WarmupResult
from .experiments.decoder import DecoderResult
from .experiments.densenet import DenseNetResult
from .experiments.initialisation import InitScalesResult
from .experiments.norm_placement import GradientProfileResult, StreamResult, Theorem1Result
from .experiments.norm_training import DepthSweepResult
from .experiments.preactivation import OrderResult

LOSS_LABEL = "training loss (cross-entropy, nats)"


class CourseFigure(Figure):
    """A figure that shows itself as a PNG in Jupyter whatever matplotlib backend is active.

    A bare ``Figure`` only draws in a notebook once pyplot has set up the inline backend;
    without that, Jupyter (and a widget's output) would print ``<Figure size ...>``.
    """

    def _repr_png_(self) -> bytes:
        return figure_png(self)


class SharedRenderer(RendererAgg):
    """Agg's renderer, keeping each font's line metrics (ascent, descent, line gap) once read.

    Matplotlib (3.11) reads them from the font's tables for every text it lays out, several
    times per tick label per draw, unless the renderer offers them (``_get_font_height_metrics``,
    the hook its PDF and PS backends use): the same numbers, by the same formula, read once.
    """

    def _get_font_height_metrics(self, prop: FontProperties) -> tuple[float | None, ...]:
        return _font_height_metrics(prop.copy(), self.dpi)  # (a copy: FontProperties is mutable)


@functools.lru_cache(maxsize=256)
def _font_height_metrics(prop: FontProperties, dpi: float) -> tuple[float | None, ...]:
    """``(ascent, descent, line gap)`` in pixels of ``prop``'s font at ``dpi``, as
    ``matplotlib.text.Text._get_layout`` computes them without the hook (``None``s: let it)."""
    font = get_font(findfont(prop))
    for table_name, gap, ascent, descent in (
        ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
        ("hhea", "lineGap", "ascent", "descent"),
    ):
        table = font.get_sfnt_table(table_name)
        if table is not None:
            scale = 1 / font.get_sfnt_table("head")["unitsPerEm"] * prop.get_size_in_points() * dpi / 72
            return table[ascent] * scale, -table[descent] * scale, table[gap] * scale
    return None, None, None


class SharedRendererCanvas(FigureCanvasAgg):
    """An Agg canvas whose renderer is shared by every figure of the same size and dpi.

    Matplotlib caches the size of every text and every parsed mathtext label (a log axis's
    ``10^k``) per renderer, and gives each new figure a new renderer, so each widget redraw
    measured and parsed its labels afresh: a fifth of its drawing time. Figures drawn one
    after another (the only way the course draws) can share one renderer: it is cleared before
    each draw, so the pixels are the same (tests/test_plots.py).
    """

    _renderers: dict[tuple[int, int, float], RendererAgg] = {}
    MAX_RENDERERS = 16  # sizes kept (a 600 x 360 renderer holds 0.9 MB of pixels)

    def get_renderer(self) -> RendererAgg:
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        renderer = self._renderers.get(key)
        if renderer is None:
            if len(self._renderers) >= self.MAX_RENDERERS:
                self._renderers.pop(next(iter(self._renderers)))
            renderer = self._renderers[key] = SharedRenderer(w, h, self.figure.dpi)
        self.renderer, self._lastKey = renderer, key
        return renderer


def figure_png(figure: Figure) -> bytes:
    """The PNG bytes of ``figure`` (what Jupyter shows and the notebook stores)."""
    if type(figure.canvas) is FigureCanvasBase:  # a bare figure (not pyplot's): draw it on ours
        SharedRendererCanvas(figure)
    _without_log_minor_ticks(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def figure_rgba(figure: Figure) -> np.ndarray:
    """The pixels of ``figure`` as :func:`figure_png` draws them, ``(height, width, 4)`` uint8:
    for composing pictures without encoding and decoding a PNG in between."""
    if type(figure.canvas) is FigureCanvasBase:
        SharedRendererCanvas(figure)
    _without_log_minor_ticks(figure)
    figure.canvas.draw()
    return np.array(figure.canvas.buffer_rgba())  # a copy: the renderer draws the next figure


MINOR_TICKS_DECADES = 3  # a log axis spanning more decades than this shows decades only


def _without_log_minor_ticks(figure: Figure) -> None:
    """A log axis spanning many decades keeps its decade ticks and drops the eight unlabelled
    minor ticks between each pair: drawing those (twice, with the constrained layout) was half of
    a widget's redraw. A short log axis keeps them: there they are the only scale it has."""
    for ax in figure.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            low, high = sorted(limits)
            if axis.get_scale() == "log" and low > 0 and math.log10(high / low) > MINOR_TICKS_DECADES:
                axis.set_minor_locator(NullLocator())


def _figure(width: float = 6.0, height: float = 3.6) -> tuple[Figure, object]:
    fig = CourseFigure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _require_series(name: str, series: Mapping[str, Sequence[float]]) -> None:
    if not isinstance(series, Mapping) or not series:
        raise TypeError(
            f"{name} must be a non-empty dict of label -> list of numbers, got {type(series).__name__}"
        )


def _lines(
    lines: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    title: str,
    log: bool,
    **style: object,
) -> tuple[Figure, object]:
    """A figure with one labelled line per ``(label, xs, ys)``, axes labelled, legend drawn."""
    fig, ax = _figure()
    for label, xs, ys in lines:
        ax.plot(xs, ys, label=label, **style)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if log:
        ax.set_yscale("log")
    return fig, ax


def span(values: Sequence[float], fmt: str = ".2g") -> str:
    """A range over seeds as text, ``'low–high'`` in ``fmt``; one number when both ends agree at
    that precision, and ``'low to high'`` when the high end is negative (no dash beside a minus)."""
    low, high = f"{min(values):{fmt}}", f"{max(values):{fmt}}"
    return low if low == high else f"{low}{' to ' if high.startswith('-') else '–'}{high}"


def plot_loss_curves(
    curves: Mapping[str, Sequence[float]],
    title: str = "Training loss",
    log: bool = True,
    chance: float | None = None,
) -> Figure:
    """One line per variant: loss against step (log scale by default); ``chance`` draws a reference."""
    _require_series("curves", curves)
    lines = [(label, range(len(loss)), loss) for label, loss in curves.items()]
    fig, ax = _lines(lines, "training step", LOSS_LABEL, title, log, linewidth=1.2)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", label=f"chance ({chance:.2f})")
    ax.legend()
    return fig


def plot_by_layer(
    series: Mapping[str, Sequence[float]], ylabel: str, title: str = "", log: bool = False, first: int = 1
) -> Figure:
    """One line per variant against layer index (``first`` is the index of the first value)."""
    _require_series("series", series)
    lines = [(label, range(first, first + len(values)), values) for label, values in series.items()]
    fig, ax = _lines(lines, "layer (block index)", ylabel, title, log, marker="o", markersize=3)
    ax.legend()
    return fig


def plot_by_depth(
    depths: Sequence[int],
    series: Mapping[str, Sequence[float]],
    ylabel: str,
    title: str = "",
    log: bool = False,
) -> Figure:
    """One line per variant against network depth."""
    _require_series("series", series)
    for label, values in series.items():
        if len(values) != len(depths):
            raise ValueError(f"series {label!r} has {len(values)} values for {len(depths)} depths")
    lines = [(label, depths, values) for label, values in series.items()]
    fig, ax = _lines(lines, "depth (number of blocks)", ylabel, title, log, marker="o")
    ax.legend()
    return fig


def plot_grad_norm_heatmap(
    grad_norms: Sequence[Sequence[float]], steps: Sequence[int], title: str = ""
) -> Figure:
    """Gradient norm of each block (rows) over training (columns), log10 colour scale."""
    if not grad_norms or len(grad_norms) != len(steps):
        raise ValueError(
            f"need one row of block norms per logged step, got {len(grad_norms)} rows for {len(steps)}"
        )
    fig, ax = _figure()
    grid = [[math.log10(max(row[b], 1e-12)) for row in grad_norms] for b in range(len(grad_norms[0]))]
    image = ax.imshow(
        grid,
        aspect="auto",
        origin="lower",
        cmap="viridis",
        extent=(steps[0], steps[-1], 0.5, len(grid) + 0.5),
    )
    fig.colorbar(image, ax=ax, label="log10 gradient norm (L2)")
    ax.set(xlabel="training step", ylabel="block index (input side at the bottom)", title=title)
    return fig


def plot_lesion(
    baseline: Mapping[str, float], deleted: Mapping[str, Sequence[float]], title: str = ""
) -> Figure:
    """Bars of test error (%) after deleting each block, with the intact net's error as a line."""
    _require_series("deleted", deleted)
    fig, ax = _figure(7.0)
    width = 0.8 / len(deleted)
    for i, (label, errors) in enumerate(deleted.items()):
        positions = [k + 1 + (i - (len(deleted) - 1) / 2) * width for k in range(len(errors))]
        bars = ax.bar(positions, errors, width=width, label=f"{label}, block deleted")
        ax.axhline(
            baseline[label],
            color=bars.patches[0].get_facecolor(),
            linestyle="--",
            label=f"{label}, intact ({baseline[label]:.1f} %)",
        )
    top = max(max(errors) for errors in deleted.values())
    ax.set_ylim(0, 1.45 * max(top, *baseline.values(), 1.0))  # headroom for the legend
    ax.set(xlabel="deleted block", ylabel="test error (%)", title=title or "Deleting one block at test time")
    ax.legend(fontsize="small", ncols=2, loc="upper center")
    return fig


def plot_degradation(result: DegradationResult) -> Figure:
    """Training error (%, mean over seeds, the band from lowest to highest seed) against depth,
    plain versus residual."""
    depths = list(result.config.depths)
    series = {arm: result.mean_error(arm) for arm in result.train_error}
    fig = plot_by_depth(depths, series, "training error (%)", "Degradation: deeper plain nets train worse")
    ax = fig.axes[0]
    for line, arm in zip(ax.lines, series, strict=True):
        low, high = zip(*result.error_range(arm), strict=True)
        ax.fill_between(depths, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    return fig


def plot_gradient_profile(result: GradientProfileResult) -> Figure:
    """Gradient norm of each layer's second MLP weight at init (mean over seeds), per placement."""
    c = result.config
    series = {
        f"{norm}-norm (last/first quarter {result.mean_slope(norm):.2f})": result.mean(norm)
        for norm in result.grad
    }
    title = (
        f"Gradient by layer at init: {c.setup.activation.upper()}, {c.setup.init} init, {len(c.seeds)} seeds"
    )
    return plot_by_layer(series, "‖∂loss/∂W₂‖ (L2 norm)", title)


def plot_warmup(result: WarmupResult) -> Figure:
    """Loss curves of post-norm without and with warm-up and pre-norm without, every seed."""
    c = result.config
    return plot_seed_curves(
        result.loss_curves,
        f"Sorting, {c.depth} layers, {c.optimizer} lr {c.lr:g}, warm-up {c.warmup_steps} steps",
        chance=math.log(10),
    )


def plot_rank_collapse(ranks: Mapping[str, Sequence[float]]) -> Figure:
    """‖X − 1x̄ᵀ‖/‖X‖ against depth (layer 0 is the input), log scale."""
    return plot_by_layer(ranks, "relative distance from rank one", "Rank collapse", log=True, first=0)


def plot_stream_growth(rms: Mapping[str, Sequence[float]]) -> Figure:
    """RMS of the residual stream after each block (block 0 is the input), log scale."""
    return plot_by_layer(rms, "stream RMS (input units)", "Residual stream growth", log=True, first=0)


def plot_shattered(result: ShatteredResult) -> Figure:
    """Lag-1 autocorrelation of ∂f/∂x over the grid against depth, the mean over seeds."""
    means = {arm: result.mean(arm) for arm in result.correlation}
    return plot_by_depth(result.config.depths, means, "lag-1 autocorrelation of ∂f/∂x", "Shattered gradients")


def plot_lesion_result(result: LesionResult) -> Figure:
    """:func:`plot_lesion` of a :class:`~coursekit.experiments.LesionResult`."""
    return plot_lesion(result.baseline, result.deleted)


def plot_shortcuts(result: ShortcutResult, seed_index: int = 0) -> Figure:
    """Loss curves of every shortcut variant at one seed (by position in the config's seeds)."""
    c = result.config
    curves = {v: by_seed[seed_index] for v, by_seed in result.curves_by_seed.items()} or result.loss_curves
    return plot_loss_curves(curves, f"Shortcut variants, depth {c.depth}, seed {c.seeds[seed_index]}")


# Lesson 2: layer normalisation


def plot_layer_norm_bug(
    scales: Sequence[float], errors: Mapping[str, Sequence[float]], marked: float, title: str = ""
) -> Figure:
    """Relative error (%) of each LayerNorm bug against the input's standard deviation, log-log,
    with a dotted line at the ``marked`` scale."""
    _require_series("errors", errors)
    lines = [(label, scales, [max(v, 1e-6) for v in values]) for label, values in errors.items()]
    fig, ax = _lines(
        lines, "standard deviation of the input", "error against torch.nn.LayerNorm (%)", title, True
    )
    ax.set_xscale("log")
    ax.axvline(marked, color="grey", linestyle=":")
    ax.legend(fontsize="small")
    return fig


def plot_batch_dependence(
    batch_sizes: Sequence[int], change: Mapping[str, Sequence[float]], d: int
) -> Figure:
    """How much one example's normalised output changes with its batch-mates, by batch size."""
    fig = plot_by_depth(
        batch_sizes,
        change,
        "change in one example's output (RMS)",
        f"Same example, new batch-mates (d = {d})",
    )
    ax = fig.axes[0]
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    return fig


# --- lesson 6: pre-norm versus post-norm ------------------------------------------------------


def plot_seed_curves(
    curves: Mapping[str, Sequence[Sequence[float]]], title: str = "Training loss", chance: float | None = None
) -> Figure:
    """Loss against step, one colour per variant and one thin line per seed (log scale)."""
    _require_series("curves", curves)
    fig, ax = _figure()
    for i, (label, seeds) in enumerate(curves.items()):
        for k, loss in enumerate(seeds):
            ax.plot(
                range(len(loss)),
                loss,
                color=f"C{i}",
                linewidth=1.0,
                alpha=0.8,
                label=label if k == 0 else None,
            )
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", label=f"chance ({chance:.2f})")
    ax.set(xlabel="training step", ylabel=LOSS_LABEL, title=title, yscale="log")
    ax.legend(fontsize="small")
    return fig


def plot_theorem1(result: Theorem1Result) -> Figure:
    """Per-position gradient of the last layer's W₂ (mean over seeds) against depth, with 1/√L."""
    depths = list(result.config.depths)
    pre = result.mean("pre")
    series = {
        "post-norm": result.mean("post"),
        "pre-norm": pre,
        "1/√L (from pre-norm's first depth)": [pre[0] * r for r in result.inverse_sqrt()],
    }
    return plot_by_depth(depths, series, "‖∂ℓ_t/∂W₂ᴸ‖, per position", "Theorem 1: the last layer's gradient")


def plot_stream_norms(result: StreamResult) -> Figure:
    """‖x_l‖²/d of the residual stream by layer (layer 0 is the embedded input), mean over seeds."""
    setup = result.config.setup
    series = {f"{norm}-norm": result.mean(norm) for norm in result.sq_norm}
    title = f"Residual stream at init ({setup.activation.upper()}, {setup.init} init)"
    return plot_by_layer(series, "‖x_l‖² / d", title, first=0)


def plot_depth_sweep(result: DepthSweepResult) -> Figure:
    """Held-out loss (mean over seeds) against depth, post- versus pre-norm."""
    c = result.config
    series = {f"{norm}-norm": result.mean_test(norm) for norm in result.test_loss}
    steps = " / ".join(f"{n}" for n in c.steps)  # one count per depth
    title = f"Sorting, {c.optimizer} lr {c.lr:g}, {steps} steps"
    return plot_by_depth(list(c.depths), series, "held-out loss (nats)", title)


def plot_densenet(result: DenseNetResult) -> Figure:
    """Loss curves of the DenseNet and the nets it is compared with, first seed."""
    c = result.config
    title = f"Add or concatenate, depth {c.depth}, seed {c.seeds[0]}"
    return plot_loss_curves(
        {f"{v} ({result.parameters[v]:,} parameters)": curve for v, curve in result.loss_curves.items()},
        title,
    )


def plot_layer_widths(result: DenseNetResult) -> Figure:
    """Input width of every layer: the DenseNet's grows by its growth rate, the residual net's stays."""
    c = result.config
    series = {
        f"DenseNet (growth {c.growth})": result.widths[:-1],
        "residual / plain / projected": [c.width] * c.depth,
    }
    return plot_by_layer(series, "input width of the layer (features)", "What each layer reads")


# --- lessons 3 and 4: the MLP block, the transformer block -----------------------------------


def plot_decoder_ablation(result: DecoderResult, variants: Sequence[str] | None = None) -> Figure:
    """Loss curves of the decoder variants (one thin line per seed), with chance and the target."""
    names = list(result.loss_curves) if variants is None else list(variants)
    c = result.config
    fig = plot_seed_curves(
        {name: result.loss_curves[name] for name in names},
        f"Causal decoder, {c.depth} blocks, {c.norm}-norm, rule {c.rule!r}",
        chance=result.chance,
    )
    ax = fig.axes[0]
    ax.axhline(c.target_loss, color="black", linestyle="--", linewidth=0.8, label=f"target {c.target_loss:g}")
    ax.legend(fontsize="small")
    return fig


def plot_init_scales(result: InitScalesResult, seed_index: int = 0) -> Figure:
    """Two panels against block index, one line per initialisation, log scale: the RMS of the
    activations going forward and of the gradient reaching each block's input."""
    fig = CourseFigure(figsize=(8.0, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    blocks = range(result.config.depth + 1)
    for init in result.config.inits:
        left.plot(blocks, result.activation[init][seed_index], label=init, marker="o", markersize=2)
        right.plot(blocks, result.gradient[init][seed_index], label=init, marker="o", markersize=2)
    left.set(xlabel="block (0 = input)", ylabel="RMS", title="activations, forward", yscale="log")
    right.set(xlabel="block (0 = input)", title="gradient reaching the block, backward", yscale="log")
    left.legend(title="initialisation")
    fig.suptitle(f"Plain ReLU MLP stack without norms, {result.config.depth} blocks, at init")
    return fig


def plot_grid_gradients(
    xs: Sequence[float], gradients: Mapping[str, Sequence[float]], title: str = ""
) -> Figure:
    """∂f/∂x against x, one panel per net (stacked, own y scale): smooth or white-noise-like."""
    _require_series("gradients", gradients)
    fig = CourseFigure(figsize=(6.0, 1.2 + 1.5 * len(gradients)), layout="constrained")
    axes = fig.subplots(len(gradients), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (label, values) in zip(axes, gradients.items(), strict=True):
        ax.plot(xs, values, linewidth=1)
        ax.set(ylabel="∂f/∂x", title=label)
    axes[-1].set(xlabel="input x")
    if title:
        fig.suptitle(title)
    return fig


# Lesson 7: norm and activation order in the residual block


def plot_block_orders(result: OrderResult, seed_index: int = 0) -> Figure:
    """Loss curves of every block order (He et al. 2016, Fig. 4) at one seed (by position in ``seeds``)."""
    c = result.config
    curves = {order: by_seed[seed_index] for order, by_seed in result.loss_curves.items()}
    return plot_loss_curves(curves, f"Block orders, {c.depth} blocks, seed {c.seeds[seed_index]}")
