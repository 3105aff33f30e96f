"""Lesson 5: train the plain and the residual twin live and watch both loss curves as they train.

:func:`skip_training_view` is what pytest calls (the finished run); the explorer draws the
same run piece by piece, with a progress bar, from :func:`skip_training_stream`. Finished runs
are cached, so going back to a setting answers at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import ipywidgets as widgets
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from ..experiments.degradation import LiveSnapshot, train_twins_live
from ..plots import plot_loss_curves
from .explorer import Explorer

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
    weighted = 2 * snapshot.depth + 2  # the default two layers per block, plus stem and head
    head = f"{snapshot.depth} blocks ({weighted} layers), epoch {snapshot.epoch}/{snapshot.epochs}"
    return head + " | " + " | ".join(parts)


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


class LiveExplorer(Explorer):
    """An :class:`Explorer` that redraws while its view trains: a progress bar, then the curves
    after every piece of the run."""

    def __init__(self, **controls: widgets.ValueWidget) -> None:
        self.bar_output = widgets.Output()
        super().__init__(skip_training_view, **controls)
        self.children = (*self.children[:1], self.bar_output, *self.children[1:])

    def redraw(self, change: object = None) -> None:
        values = self.values()
        self.bar_output.clear_output()
        with self.bar_output:
            bar = tqdm(total=values["epochs"], desc="training", unit="epoch")
        for snapshot in skip_training_stream(**values):
            bar.update(snapshot.epoch - bar.n)
            self.summary, self.figure = skip_training_summary(snapshot), skip_training_figure(snapshot)
            self._show()
        bar.close()


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
