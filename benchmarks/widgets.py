"""How fast each lesson's widget answers when a control moves, and its first draw: the budget
is 1 s on the slow reference machine (2 cores), scaled by this machine's measured speed
against it (:mod:`coursekit.course.machine`).

Every widget is built as its lesson builds it (the runs that lessons 1, 4, 6b, 7, 7b and 8 draw
from are made first, untimed), and the build, which draws its default picture, is timed: the first
draw. Then each control is moved, one at a time from the defaults, to each of a few values (a
slider's two ends and its middle, every option of a menu or a toggle), then to a few settings
of several controls where a view has more to compute (a depth not yet trained, at a trained
step), and the time from the move to its first picture is taken: the view's numbers and its
figure rendered to PNG, as JupyterLab's inline backend renders it. A view that trains draws
what it has at once and then its answer: the time to the answer stands beside. Views cache
what repeats, so each value is timed once, on its first visit: what a learner waits for. The
live-training widget of lesson 5 streams its curves: a move first draws the run's empty axes
under a progress bar (its first picture), then the curves after each piece of training; the
time to its first curves and to the end of the run stand beside it. Beside each wall time
stands the CPU time this process spent (all its threads): on a machine others are loading,
the steadier. Python's cyclic garbage collector runs (untimed) before each timing: a full pass
over what the imports and the lesson's runs left (0.06 s here after the imports) is not the
widget's cost, and landing inside one timing or another it made the table noisy.

    .venv/bin/python benchmarks/widgets.py [--factor F] [WIDGET_NAME_PREFIX ...]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import itertools
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import ipywidgets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the course's own coursekit

from coursekit import experiments, load_digits, widgets  # noqa: E402
from coursekit.course import machine  # noqa: E402
from coursekit.plots import figure_png  # noqa: E402
from coursekit.widgets.skip import skip_training_frames  # noqa: E402

FIRST_DRAW = "first draw"  # the control column of a widget's build


@dataclass(frozen=True)
class LessonWidget:
    """How a lesson shows a widget: ``runs()`` makes the lesson's runs it draws from (untimed:
    the lesson's own cells pay for them), ``build(*runs())`` builds it and draws its default."""

    build: Callable[..., widgets.Explorer]
    runs: Callable[[], tuple] = tuple
    settings: tuple[dict, ...] = ()  # moves of several controls at once, timed from the defaults too


def _decoder_runs() -> tuple:
    return (experiments.run_decoder_ablation(experiments.DecoderConfig(steps=200), progress_bar=False),)


def _shortcut_runs() -> tuple:
    """Lesson 7's shortcut and DenseNet runs, made as the lesson makes them (one engine call)."""
    dense, shortcuts = experiments.run_densenet_and_shortcuts(progress_bar=False)
    return shortcuts, dense


def _training_grad_runs() -> tuple:
    """Lesson 1's table over seeds, whose runs its residual-gradients widget draws from."""
    return tuple(
        experiments.run_training_grad_norms(
            experiments.TrainingGradConfig(depth=depth, steps=(0, 1, 10), seeds=(0, 1, 2)), progress_bar=False
        )
        for depth in (16, 32, 52)
    )


def _stream_runs() -> tuple:
    """Lesson 1 measures the stream over three seeds at the widget's default depth just before it."""
    experiments.run_stream_growth(experiments.StreamGrowthConfig(depth=50, seeds=(0, 1, 2)))
    return ()


def _profile_runs() -> tuple:
    """Lesson 6 computes the profile of all four settings before it shows the widget."""
    for activation in ("relu", "gelu"):
        for init in ("xavier", "default"):
            widgets.gradient_profile_for(activation, init, progress_bar=False)
    return ()


def _depth_sweep_runs() -> tuple:
    """Lesson 6b's depth sweep, whose curves its widget draws."""
    return (experiments.run_depth_sweep(progress_bar=False),)


def _block_order_runs() -> tuple:
    """Lesson 7b's block-order runs, whose curves its widget draws."""
    return (experiments.run_block_orders(progress_bar=False),)


def _shattered_runs() -> tuple:
    """Lesson 1's shattered-gradient nets, seeds 0-4, whose curves its widget draws."""
    config = experiments.ShatteredConfig(depths=(1, 10, 24, 50), seeds=(0, 1, 2, 3, 4))
    return (experiments.run_shattered(config, progress_bar=False),)


def _digits_runs() -> tuple:
    """Lesson 7 has trained on the digits (so loaded them) before its gate widget."""
    load_digits()
    return ()


def _gpt_runs() -> tuple:
    """Lesson 8's four arms, trained briefly (one seed, 20 steps): the widget's models have the
    lesson's sizes, so sampling from them costs what it costs there, and the first draw reuses the
    samples written at the last step, as the lesson's does."""
    config = experiments.GPTConfig(seeds=(0,), steps=20, warmup_steps=10, sample_steps=(20,))
    return (experiments.run_gpt(config, progress_bar=False),)


def lesson_widgets() -> dict[str, LessonWidget]:
    """Every widget the lessons show, by lesson, built with the lessons' own arguments."""
    return {
        "00 gradient flow": LessonWidget(lambda: widgets.gradient_flow_explorer(depth=32)),
        "01 residual gradients": LessonWidget(
            lambda *runs: widgets.residual_gradients_explorer(depth=52, step=0, runs=runs),
            _training_grad_runs,
            ({"depth": 33, "step": 10}, {"depth": 64, "step": 10}),  # a depth not yet trained, trained
        ),
        "01 shattered gradients": LessonWidget(
            lambda shattered: widgets.shattered_explorer(shattered, depth=24), _shattered_runs
        ),
        "01 stream growth": LessonWidget(lambda: widgets.stream_growth_explorer(depth=50), _stream_runs),
        "02 batch dependence": LessonWidget(lambda: widgets.batch_dependence_explorer(d=64)),
        "02 LayerNorm bug": LessonWidget(
            lambda: widgets.layer_norm_bug_explorer(d=64, log10_eps=-5, log10_scale=0)
        ),
        "03 rank collapse": LessonWidget(lambda: widgets.rank_collapse_explorer(depth=12)),
        "04 decoder": LessonWidget(
            lambda post: widgets.decoder_explorer(post, variant="no residuals"), _decoder_runs
        ),
        "05 skip training (live)": LessonWidget(widgets.skip_training_explorer),
        "06 gradient profile": LessonWidget(widgets.gradient_profile_explorer, _profile_runs),
        "06b depth sweep": LessonWidget(widgets.depth_sweep_explorer, _depth_sweep_runs),
        "07 gate carry": LessonWidget(
            lambda: widgets.gate_carry_explorer(gate_bias=-1.0, depth=24), _digits_runs
        ),
        "07 shortcuts": LessonWidget(widgets.shortcut_explorer, _shortcut_runs),
        "07b block orders": LessonWidget(widgets.block_order_explorer, _block_order_runs),
        "08 samples": LessonWidget(widgets.sample_explorer, _gpt_runs),
    }


def probes(control: ipywidgets.ValueWidget) -> list[object]:
    """The values a control is moved to: a slider's ends and middle, every option, the other state,
    two prompts for a text box."""
    if isinstance(control, ipywidgets.widgets.widget_int._Int | ipywidgets.widgets.widget_float._Float):
        low, high, step = control.min, control.max, control.step
        middle = low + round((high - low) / 2 / step) * step
        values = [low, middle, high]
    elif hasattr(control, "options"):
        values = [o[1] if isinstance(o, tuple) and len(o) == 2 else o for o in control.options]
    elif isinstance(control.value, bool):
        values = [not control.value]
    elif isinstance(control, ipywidgets.Text):  # a short prompt, and one longer than any context
        values = ["import ", "Return a new list of the items of the sequence, in the order "]
    else:
        raise TypeError(f"no probes for a {type(control).__name__}")
    return [v for v in dict.fromkeys(values) if v != control.value]


@dataclass(frozen=True)
class Answer:
    widget: str
    control: str
    value: object
    seconds: float  # to the first picture
    whole_s: float | None = None  # a live widget's whole run
    curves_s: float | None = None  # a live widget's first picture with curves (after one piece)
    cpu_s: float | None = None  # this process's CPU time to the first picture, all threads


def answers(name: str, explorer: widgets.Explorer, settings: tuple[dict, ...] = ()) -> Iterator[Answer]:
    """Each control of ``explorer`` moved to each of its probes, then each of ``settings``, timed
    from the defaults."""
    defaults = explorer.values()
    moves = [(c, v, {c: v}) for c, control in explorer.controls.items() for v in probes(control)]
    moves += [("+".join(s), "/".join(map(str, s.values())), s) for s in settings]
    for control_name, value, move in moves:
        values = defaults | move
        if isinstance(explorer, widgets.LiveExplorer):
            yield _live_answer(name, control_name, value, values)
            continue
        gc.collect()  # (untimed: the garbage of what ran before is not this move's)
        start, cpu = time.perf_counter(), time.process_time()
        times = []  # (seconds, CPU seconds) to each picture: a view that trains may draw two
        for _, figure in explorer.frames(**values):
            figure_png(figure)
            times.append((time.perf_counter() - start, time.process_time() - cpu))
        whole = times[-1][0] if len(times) > 1 else None
        yield Answer(name, control_name, value, times[0][0], whole_s=whole, cpu_s=times[0][1])


def _live_answer(name: str, control: str, value: object, values: dict) -> Answer:
    """A move of the live widget: its first picture (the run's axes, or the finished run if it
    ran before), its first curves (after the first piece of training) and the whole run, each
    frame rendered to PNG as the widget renders it."""
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    times = []  # (epochs trained, seconds, CPU seconds) of each frame
    for epoch, _, figure in skip_training_frames(**values):
        figure_png(figure)
        times.append((epoch, time.perf_counter() - start, time.process_time() - cpu))
    curves = next(seconds for epoch, seconds, _ in times if epoch > 0)
    return Answer(name, control, value, times[0][1], whole_s=times[-1][1], curves_s=curves, cpu_s=times[0][2])


def _quiet() -> contextlib.AbstractContextManager:
    """Swallow what the widgets print and their progress bars (this script prints the table)."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def first_draw(name: str, widget: LessonWidget) -> tuple[widgets.Explorer, Answer]:
    """The widget built after its lesson's runs (untimed), and the time of its build: its first
    picture, what a learner waits for when the cell runs. The live widget then trains its
    default run in view as it is displayed: the time to its first curves and to the finished
    stored picture stand beside it."""
    with _quiet():
        runs = widget.runs()
        gc.collect()  # (untimed: the lesson's runs and imports leave garbage that is not the widget's)
        start, cpu = time.perf_counter(), time.process_time()
        explorer = widget.build(*runs)
        seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        if not isinstance(explorer, widgets.LiveExplorer):
            return explorer, Answer(name, FIRST_DRAW, "defaults", seconds, cpu_s=cpu_s)
        curves = None
        for _, _, figure in itertools.islice(skip_training_frames(**explorer.values()), 1, None):
            figure_png(figure)  # (the first frame is the build's picture, drawn already)
            curves = curves or time.perf_counter() - start
        explorer.picture_bundle()  # the finished default run's stored picture
        whole = time.perf_counter() - start
    return explorer, Answer(
        name, FIRST_DRAW, "defaults", seconds, whole_s=whole, curves_s=curves, cpu_s=cpu_s
    )


def _print(answer: Answer, budget: float) -> None:
    whole = "" if answer.whole_s is None else f"  (then its answer, at {answer.whole_s:.2f} s)"
    if answer.curves_s is not None:
        whole = f"  (first curves {answer.curves_s:.2f} s, whole run {answer.whole_s:.2f} s)"
    late = "  OVER" if answer.seconds >= budget else "      "
    print(
        f"{answer.widget:<25} {answer.control:<12} {answer.value!s:<20} {answer.seconds:>7.2f}s"
        f"{late} {answer.cpu_s:>6.2f}s{whole}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--factor", type=float, default=None, help="speed against the reference (default: measured)"
    )
    parser.add_argument(
        "widgets", nargs="*", help="only the widgets whose name starts with one of these (e.g. 01, '07 gate')"
    )
    args = parser.parse_args(argv)
    speed = machine.measure() if args.factor is None else machine.Speed.of_factor(args.factor)
    budget = speed.budget(machine.BUDGETS_S["widget move"])
    print(machine.describe(speed))
    print(machine.budgets_line(speed, ["widget move"]) + ", the first draw included")
    head = f"{'widget':<25} {'control':<12} {'moved to':<20} {'answer':>8}       {'CPU':>6}"
    print(f"{head}   budget {budget:.2g} s")
    results: list[Answer] = []
    for name, widget in lesson_widgets().items():
        if args.widgets and not name.startswith(tuple(args.widgets)):
            continue
        explorer, answer = first_draw(name, widget)
        results.append(answer)
        _print(answer, budget)
        moves = answers(name, explorer, widget.settings)
        while True:
            with _quiet():  # what a widget prints goes to its own output in a notebook
                answer = next(moves, None)
            if answer is None:
                break
            results.append(answer)
            _print(answer, budget)
    slowest = max(results, key=lambda a: a.seconds)
    under = sum(a.seconds < budget for a in results)
    under_cpu = sum(a.cpu_s < budget for a in results)
    print(
        f"summary: {under} of {len(results)} moves and first draws answered within {budget:.2g} s "
        f"({under_cpu} in CPU time) "
        f"({machine.BUDGETS_S['widget move']:g} s on the reference, factor {speed.factor:.2f}); slowest "
        f"{slowest.seconds:.2f} s ({slowest.widget}, {slowest.control} = {slowest.value})"
    )
    later = [a for a in results if a.whole_s is not None and a.curves_s is None]  # trained answers
    live = [a for a in results if a.curves_s is not None]
    if later:
        late = [a for a in later if a.whole_s >= budget]
        print(
            f"  views that train: {len(later) - len(late)} of {len(later)} answers within {budget:.2g} s "
            f"after their first picture; slowest {max(a.whole_s for a in later):.2f} s"
        )
    if live:
        print(
            f"  the live widget: first curves {min(a.curves_s for a in live):.2f}-"
            f"{max(a.curves_s for a in live):.2f} s after a move (one piece of training and two pictures)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
