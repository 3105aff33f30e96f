"""The one widget class of the course: controls over a view function, with a stored picture.

Every widget is an :class:`Explorer`: some controls and a *view function*
``view(**values) -> (summary, figure)`` that pytest calls exactly as a slider does. An
explorer also stores a static PNG of its default state in the notebook, so a reader without a
live kernel (GitHub's viewer, an nbconvert export, a closed kernel) sees the figure and the
summary line, not ``VBox(...)``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import ipywidgets as widgets
from IPython.display import display
from matplotlib.figure import Figure

from ..plots import figure_png

View = Callable[..., tuple[str, Figure]]


class Explorer(widgets.VBox):
    """Controls above an output that shows ``view(**values)``: a summary line and a figure.

    Args:
        view: called with one keyword per control, ``view(depth=8, skip=True)``; returns
            ``(summary, figure)``. Keep it under 1 s at the defaults (cache what repeats).
        controls: the ipywidgets controls, by the keyword ``view`` takes them under.

    The notebook stores, beside the live widget, a PNG of the default state and the summary
    as plain text: what a reader without a kernel sees.
    """

    def __init__(self, view: View, **controls: widgets.ValueWidget) -> None:
        if not callable(view):
            raise TypeError(f"view must be a function returning (summary, figure), got {view!r}")
        if not controls:
            raise ValueError("an Explorer needs at least one control")
        self.view = view
        self.controls = controls
        self.output = widgets.Output()
        super().__init__([widgets.HBox(list(controls.values())), self.output])
        self.summary, self.figure = self.current()
        self._default_png = figure_png(self.figure)
        self._default_summary = self.summary
        for control in controls.values():
            control.observe(self.redraw, names="value")
        self._show()

    def values(self) -> dict[str, object]:
        """The controls' current values, by keyword."""
        return {name: control.value for name, control in self.controls.items()}

    def current(self) -> tuple[str, Figure]:
        """What the view shows for the controls' current values."""
        return self.view(**self.values())

    def redraw(self, change: object = None) -> None:
        """Recompute the view for the current values and draw it (what moving a control does)."""
        self.summary, self.figure = self.current()
        self._show()

    def _show(self) -> None:
        with self.output:
            self.output.clear_output(wait=True)
            print(self.summary)
            display(self.figure)

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self._default_png).decode("ascii")
        note = "(a live widget: run the notebook to move its controls)"
        bundle["text/plain"] = f"{self._default_summary}\n{note}"
        return bundle
