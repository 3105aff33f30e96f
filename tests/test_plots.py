import math

import pytest
import torch
from matplotlib.figure import Figure

from coursekit import plots
from coursekit.experiments import (
    DegradationConfig,
    DegradationResult,
    GradientProfileConfig,
    GradientProfileResult,
    LesionConfig,
    LesionResult,
    ShatteredConfig,
    ShatteredResult,
    ShortcutConfig,
    ShortcutResult,
    WarmupConfig,
    WarmupResult,
)


def _labelled(fig):
    assert isinstance(fig, Figure)
    (ax,) = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    assert ax.get_xlabel() and ax.get_ylabel()
    return ax


def test_loss_curves_one_line_per_variant_and_chance():
    ax = _labelled(plots.plot_loss_curves({"a": [2.0, 1.0, 0.5], "b": [2.0, 2.0, 2.0]}, chance=math.log(10)))
    assert len(ax.lines) == 3 and ax.get_yscale() == "log"
    assert "nats" in ax.get_ylabel()


def test_by_layer_and_by_depth():
    ax = _labelled(plots.plot_by_layer({"pre": [3, 2, 1]}, "gradient norm"))
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
    ax = _labelled(plots.plot_by_depth([6, 20], {"plain": [1, 50], "residual": [1, 2]}, "error (%)"))
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="3 values for 2 depths"):
        plots.plot_by_depth([6, 20], {"plain": [1, 2, 3]}, "error (%)")
    with pytest.raises(TypeError, match="dict"):
        plots.plot_by_layer([], "x")


def test_heatmap_has_one_row_per_block():
    fig = plots.plot_grad_norm_heatmap([[1.0, 0.1, 0.01], [1.0, 1.0, 1.0]], [0, 10])
    ax = _labelled(fig)
    assert ax.images[0].get_array().shape == (3, 2)
    with pytest.raises(ValueError, match="one row"):
        plots.plot_grad_norm_heatmap([[1.0]], [0, 1])


def test_lesion_bars():
    result = LesionResult(
        LesionConfig(depth=3, several=(2,)),  # at most as many blocks at once as there are
        {"plain": 5.0, "residual": 3.0},
        {"plain": [80.0, 90.0, 85.0], "residual": [10.0, 4.0, 3.0]},
    )
    ax = _labelled(plots.plot_lesion_result(result))
    assert len(ax.patches) == 6 and "%" in ax.get_ylabel()


def test_experiment_plots_draw_their_numbers():
    degradation = DegradationResult(DegradationConfig(depths=(4, 8), seeds=(0,)))
    degradation.train_error = {"plain": [[1.0], [30.0]], "residual": [[1.0], [2.0]]}
    assert list(_labelled(plots.plot_degradation(degradation)).lines[0].get_ydata()) == [1.0, 30.0]
    profile = GradientProfileResult(
        GradientProfileConfig(depth=4, seeds=(0,)), {"pre": [[1, 0.5, 0.3, 0.2]], "post": [[0.3] * 4]}
    )
    _labelled(plots.plot_gradient_profile(profile))
    _labelled(plots.plot_warmup(WarmupResult(WarmupConfig(), {"post": [[2.3, 2.3]]}, {}, {})))
    _labelled(plots.plot_rank_collapse({"attention": [1.0, 0.1, 1e-6]}))
    _labelled(plots.plot_stream_growth({"identity": [1.0, 2.0, 4.0]}))
    shattered = ShatteredResult(
        ShatteredConfig(depths=(1, 10), seeds=(0,)),
        {"plain": [[1.0], [0.2]]},
        [0.0],
        {"plain": torch.zeros(1, 10, 1)},
    )
    _labelled(plots.plot_shattered(shattered))
    _labelled(plots.plot_shortcuts(ShortcutResult(ShortcutConfig(), {"identity": [1.0, 0.5]}, {}, {}, {})))


def test_figures_show_as_png_in_jupyter_without_pyplot():
    """A widget's output or a cell's value must draw the plot, not print ``<Figure ...>``."""
    from IPython.core.formatters import DisplayFormatter

    from coursekit.plots import plot_by_layer

    data, _ = DisplayFormatter().format(plot_by_layer({"plain": [1.0, 2.0]}, ylabel="norm"))
    assert data["image/png"].startswith(b"\x89PNG")


def _pixels(png: bytes):
    import io

    from matplotlib.image import imread

    return imread(io.BytesIO(png), format="png")


def test_figures_sharing_a_renderer_draw_the_pixels_of_a_fresh_one():
    """figure_png draws every figure of one size on one shared renderer (its text and mathtext
    caches make a widget's redraw faster); the pixels must be those of a fresh canvas, whatever
    was drawn on it before, log axes' mathtext labels included."""
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def fresh(fig):
        buffer = io.BytesIO()
        FigureCanvasAgg(fig).print_png(buffer)
        return buffer.getvalue()

    def figures():
        yield plots.plot_by_layer({"plain": [1e3, 10, 1], "residual": [2, 1.5, 1]}, "norm", "a", log=True)
        yield plots.plot_loss_curves({"a": [2.0, 1.0, 0.5]}, chance=2.3)
        yield plots.plot_by_layer({"x": [1e-4, 1, 1e4]}, "norm", "b", log=True)
        yield plots.plot_grid_gradients([0.0, 1.0, 2.0], {"p": [1, -2, 3], "r": [1, 1.1, 1.2]}, "∂f/∂x")
        yield plots.plot_layer_norm_bug([1e-3, 1e-2, 1.0], {"u": [1e-3, 0.1, 0.8], "e": [50, 5, 1e-4]}, 0.01)
        yield plots.plot_lesion({"plain": 5.0}, {"plain": [70.0, 90.0, 40.0]})
        yield plots.plot_grad_norm_heatmap([[1.0, 10.0], [0.1, 1.0], [0.5, 2.0]], [0, 1, 10])
        caption = Figure(figsize=(6, 0.6), dpi=100)  # the fonts of a widget's stored caption
        caption.text(0.01, 0.9, "depth 32 | plain: 1.2e3", family="monospace", fontsize=9, va="top")
        caption.text(0.01, 0.1, "(a picture)", fontsize=8, style="italic", color="0.4")
        yield caption

    shared = [plots.figure_png(fig) for fig in figures()] + [plots.figure_png(fig) for fig in figures()]
    expected = []
    for fig in figures():
        plots._without_log_minor_ticks(fig)  # what figure_png drops before drawing
        expected.append(fresh(fig))
    for got, want in zip(shared, expected + expected, strict=True):
        assert np.array_equal(_pixels(got), _pixels(want))
    assert plots._font_height_metrics.cache_info().hits  # matplotlib reads the metrics through it
    one, two = figures(), figures()
    a, b = next(one), next(two)
    plots.figure_png(a), plots.figure_png(b)
    assert a.canvas.renderer is b.canvas.renderer  # shared: the caches carry over


def test_span_writes_a_range_over_seeds_as_the_lessons_print_it():
    from coursekit.plots import span

    assert span([0.24, 0.29, 0.26]) == "0.24–0.29"
    assert span([0.2401, 0.2399]) == "0.24"  # both ends agree at this precision: one number
    assert span([1.0, 2.5], ".1f") == "1.0–2.5"
    assert span([-0.09, -0.06]) == "-0.09 to -0.06"  # no dash beside a minus
    assert span([-0.5, 0.5]) == "-0.5–0.5"
