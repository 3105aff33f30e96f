"""Lesson 5: train the plain and the residual twin live and watch both loss curves as they train.

:func:`skip_training_view` is what pytest calls (the finished run); the explorer draws the
same run piece by piece, with a progress bar, from :func:`skip_training_frames`: the run's
empty axes at once, then the curves after every piece. Finished runs are cached, so going back
to a setting answers at once.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import ipywidgets as widgets
from IPython.display import display
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from ..data import load_digits
from ..experiments.degradation import DegradationConfig, LiveSnapshot, train_twins_live
from ..plots import plot_loss_curves
from .explorer import STYLE, Explorer, captioned_png

# which arms to train: the choices the widget offers, and the arms each one names
ARM_CHOICES = {"both": ("plain", "residual"), "without skips": ("plain",), "with skips": ("residual",)}
PIECES = 8  # redraws per run
DEFAULTS = {"depth": 12, "epochs": 3, "arms": "both"}  # trained small: well under 1 s on an idle core


def _arms(choice: str) -> tuple[str, ...]:
    if choice not in ARM_CHOICES:
        raise ValueError(f"arms must be one of {', '.join(map(repr, ARM_CHOICES))}, got {choice!r}")
    return ARM_CHOICES[choice]


_RUNS: dict[tuple, tuple[LiveSnapshot, ...]] = {}  # finished runs, by (depth, epochs, arms, seed)
MAX_RUNS = 64


def skip_training_stream(
    depth: int = DEFAULTS["depth"], epochs: int = DEFAULTS["epochs"], arms: str = "both", seed: int = 0
) -> Iterator[LiveSnapshot]:
    """The run's snapshots as it trains; a setting that ran to its end before is replayed."""
    key = (depth, epochs, arms, seed)
    if key in _RUNS:
        yield from _RUNS[key]
        return
    snapshots = []
    for snapshot in train_twins_live(depth, epochs, _arms(arms), seed, pieces=min(PIECES, epochs)):
        snapshots.append(snapshot)
        yield snapshot
    if len(_RUNS) >= MAX_RUNS:
        _RUNS.pop(next(iter(_RUNS)))
    _RUNS[key] = tuple(snapshots)


def skip_training_summary(snapshot: LiveSnapshot) -> str:
    """One line: depth, epochs so far, each twin's latest loss and training error."""
    parts = []
    for arm, loss in snapshot.loss.items():
        tail = loss[-max(1, len(loss) // 10) :]
        parts.append(
            f"{arm}: loss {sum(tail) / len(tail):.2g}, training error {snapshot.train_error[arm]:.2g} %"
        )
    return _head(snapshot.depth, snapshot.epoch, snapshot.epochs) + " | " + " | ".join(parts)


def _head(depth: int, epoch: int, epochs: int) -> str:
    weighted = 2 * depth + 2  # the default two layers per block, plus stem and head
    return f"{depth} blocks ({weighted} layers), epoch {epoch}/{epochs}"


def _arms_title(arms: tuple[str, ...]) -> str:
    """What the figure shows: both twins, or one of them."""
    if len(arms) > 1:
        return "with and without skips"
    return "with skips" if arms == ("residual",) else "without skips"


def skip_training_figure(snapshot: LiveSnapshot) -> Figure:
    """Both loss curves so far, on axes that already span the whole run."""
    figure = plot_loss_curves(
        {
            f"{arm} ({'with' if arm == 'residual' else 'without'} skips)": v
            for arm, v in snapshot.loss.items()
        },
        title=f"Digits, {snapshot.depth} blocks: the same net {_arms_title(tuple(snapshot.loss))}",
    )
    steps = len(next(iter(snapshot.loss.values()))) * snapshot.epochs // max(1, snapshot.epoch)
    figure.axes[0].set_xlim(0, steps)
    return figure


def skip_training_view(
    depth: int = DEFAULTS["depth"], epochs: int = DEFAULTS["epochs"], arms: str = "both", seed: int = 0
) -> tuple[str, Figure]:
    """What the widget shows once the run of ``depth`` blocks for ``epochs`` epochs has finished."""
    *_, last = skip_training_stream(depth, epochs, arms, seed)
    return skip_training_summary(last), skip_training_figure(last)


def skip_training_start(
    depth: int = DEFAULTS["depth"], epochs: int = DEFAULTS["epochs"], arms: str = "both"
) -> tuple[str, Figure]:
    """The first picture of a run, before its first step: the axes it will be drawn on (the
    whole run's steps, the title) and no curve yet, so a move answers before the training."""
    trained = _arms(arms)
    steps = epochs * (load_digits().n_train // DegradationConfig().batch_size)  # train_twins_live's
    figure = plot_loss_curves(
        {f"{arm} ({'with' if arm == 'residual' else 'without'} skips)": [] for arm in trained},
        title=f"Digits, {depth} blocks: the same net {_arms_title(trained)}",
    )
    ax = figure.axes[0]
    ax.set_xlim(0, steps)
    ax.text(0.5, 0.5, "training...", transform=ax.transAxes, ha="center", va="center", color="0.4")
    return _head(depth, 0, epochs) + " | training...", figure


Frame = tuple[int, str, Figure]  # (epochs trained, summary, figure)


def skip_training_frames(
    depth: int = DEFAULTS["depth"], epochs: int = DEFAULTS["epochs"], arms: str = "both", seed: int = 0
) -> Iterator[Frame]:
    """Every picture the live widget draws for a setting, in order: a run that finished before
    is drawn once, finished; a new one first as :func:`skip_training_start`, then after every
    piece of :func:`skip_training_stream`."""
    finished = _RUNS.get((depth, epochs, arms, seed))
    if finished is not None:
        yield epochs, skip_training_summary(finished[-1]), skip_training_figure(finished[-1])
        return
    yield 0, *skip_training_start(depth, epochs, arms)
    for snapshot in skip_training_stream(depth, epochs, arms, seed):
        yield snapshot.epoch, skip_training_summary(snapshot), skip_training_figure(snapshot)


class LiveExplorer(Explorer):
    """An :class:`Explorer` that redraws while its view trains: a progress bar and the run's
    empty axes at once, then the curves after every piece of the run.

    Built, it draws only the first picture; displayed, it trains its default run in view and
    then stores the finished run's picture (for readers without a kernel) in place of the
    first one (``update_display``).
    """

    trains = True

    def __init__(self, **controls: widgets.ValueWidget) -> None:
        super().__init__(skip_training_view, **controls)

    def current(self) -> tuple[str, Figure]:
        """The first picture for the controls' values (no training)."""
        _, summary, figure = next(skip_training_frames(**self.values()))
        return summary, figure

    def frames(self, **values: object) -> Iterator[tuple[str, Figure]]:
        """The run's empty axes (unless it ran before), then its curves after every piece."""
        return ((summary, figure) for _, summary, figure in skip_training_frames(**values))

    def _store_default(self, png: bytes) -> None:
        self._default_png = None  # the finished default run's, once it has trained
        self._first_png = png

    def redraw(self, change: object = None, shown: bool = False) -> None:
        """Draw every frame of the current setting's run under a progress bar (``shown``: the
        first frame is on screen already)."""
        values = self.values()
        self.bar_output.clear_output()
        with self.bar_output:
            bar = tqdm(total=values["epochs"], desc="training", unit="epoch")
        frames = skip_training_frames(**values)
        if shown:
            next(frames)
        for epoch, summary, figure in frames:
            self.summary, self.figure = summary, figure
            bar.update(epoch - bar.n)
            self._show()
        bar.close()

    def picture_bundle(self) -> dict[str, str]:
        """The stored picture: the finished default run's (trained now if it has not been)."""
        if self._default_png is None:
            self._default_summary, figure = skip_training_view(**self.values())
            self._default_png = captioned_png(self._default_summary, figure)
        return super().picture_bundle()

    def _ipython_display_(self) -> None:
        """The first picture in the stored picture's place, the live widget and its rules; then
        the default run trains in view, and its finished picture replaces the first one."""
        first = {"image/png": base64.b64encode(self._first_png).decode("ascii"), "text/plain": self.summary}
        handle = display(first, raw=True, display_id=True)
        display(self._repr_mimebundle_(), raw=True)
        display({"text/html": STYLE, "text/plain": ""}, raw=True)
        self.redraw(shown=True)
        self._default_summary = self.summary  # the default run, finished and on screen
        self._default_png = captioned_png(self.summary, self._png)
        picture = self.picture_bundle()
        if handle is not None:  # (None outside IPython, where display prints)
            handle.update(picture, raw=True)


def skip_training_explorer(depth: int = DEFAULTS["depth"], epochs: int = DEFAULTS["epochs"]) -> LiveExplorer:
    """Depth, epochs and which twins to train; both loss curves drawn as they train."""
    return LiveExplorer(
        depth=widgets.IntSlider(
            value=depth, min=1, max=24, step=1, description="blocks", continuous_update=False
        ),
        epochs=widgets.IntSlider(
            value=epochs, min=1, max=30, step=1, description="epochs", continuous_update=False
        ),
        arms=widgets.ToggleButtons(  # buttons as wide as their words, on one row
            options=list(ARM_CHOICES),
            value="both",
            description="train",
            style={"button_width": "auto", "description_width": "initial"},
        ),
    )
