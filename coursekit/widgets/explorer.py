"""The one widget class of the course: controls over a view function, with a stored picture.

Every widget is an :class:`Explorer`: some controls and a *view function*
``view(**values) -> (summary, figure)`` that pytest calls exactly as a slider does.

A reader without a live kernel (GitHub's viewer, an nbconvert export, JupyterLab before the
notebook is run, or after a reload once the kernel is gone) must see the figure, not
``VBox(...)`` and not "Error displaying widget". So displaying an explorer stores three
outputs in the notebook:

1. the **picture**: a PNG of the default state with its summary line drawn above the plot
   (``image/png``, which every viewer shows, trusted or not);
2. the **live widget** (``application/vnd.jupyter.widget-view+json``; its plain-text
   form is a one-line note, never ``VBox(...)``);
3. a few **CSS rules** (``text/html``), which JupyterLab applies only to outputs it trusts,
   that is, outputs of cells run on this machine: while the widget is live, the picture
   gives way to it; when its kernel is gone ("Error displaying widget: model not found"),
   that message is hidden and the picture stands (with no kernel started at all, JupyterLab
   shows "Loading widget..." below the picture). An untrusted notebook (a fresh clone)
   never renders the widget, so it shows the picture and the note; viewers that strip
   styles (GitHub) show the picture and the note.

Why not one output holding both the widget and ``image/png``: JupyterLab prefers the widget
renderer for trusted outputs and then shows "Error displaying widget: model not found"
without a kernel, never the PNG (checked in headless Chromium; see tests/test_browser.py).
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Callable, Iterator

import ipywidgets as widgets
import numpy as np
import PIL.Image
from IPython.display import display
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..plots import figure_png, figure_rgba

View = Callable[..., tuple[str, Figure]]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
CSS_CLASS = "coursekit-explorer"
NOTE = "(a picture of the default state: run the notebook to move the controls)"
LIVE_NOTE = "(the live widget of the picture above: run the cell to move its controls)"

# (CSS cannot nest :has(); JupyterLab's widget renderer marks its own node .jupyter-widgets
# only when it failed, the live view's node is a child)
STYLE = f"""<style class="{CSS_CLASS}-style">
/* coursekit Explorer (coursekit/widgets/explorer.py): applied to trusted outputs only */
/* live: the stored picture just above a live explorer gives way to it */
.jp-OutputArea-child:has(+ .jp-OutputArea-child .{CSS_CLASS}) {{ display: none; }}
/* kernel gone: "Error displaying widget: model not found" gives way to the picture */
.jp-OutputArea-child:has(> .jp-OutputArea-output.jupyter-widgets) {{ display: none; }}
/* these rules themselves take no room */
.jp-OutputArea-child:has(style.{CSS_CLASS}-style) {{ display: none; }}
</style>"""


def captioned_png(summary: str, figure: Figure | bytes, note: str = NOTE) -> bytes:
    """The PNG of ``figure`` (or its PNG bytes, drawn already) with ``summary`` (wrapped at
    words) and ``note`` drawn above it."""
    png = figure if isinstance(figure, bytes) else figure_png(figure)
    body = np.asarray(PIL.Image.open(io.BytesIO(png)).convert("RGBA"))  # (height, width, 4) uint8
    height, width = body.shape[:2]
    dpi = 100.0
    chars = max(20, int((width - 16) / _char_px(dpi)))
    lines = [part for line in summary.splitlines() for part in textwrap.wrap(line, chars) or [""]]
    line_px = 15
    strip = Figure(figsize=(width / dpi, (len(lines) * line_px + line_px + 14) / dpi), dpi=dpi)
    strip.patch.set_facecolor("white")
    strip.text(
        8 / width,
        1 - 6 / (strip.bbox.height),
        "\n".join(lines),
        va="top",
        ha="left",
        family="monospace",
        fontsize=9,
        linespacing=1.25,
    )
    strip.text(
        8 / width,
        4 / strip.bbox.height,
        note,
        va="bottom",
        ha="left",
        fontsize=8,
        color="0.4",
        style="italic",
    )
    top = _fit_width(figure_rgba(strip), width)  # drawn, not encoded and decoded
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.concatenate([top, body])).save(buffer, format="png")
    return buffer.getvalue()


def _char_px(dpi: float) -> float:
    """The width in pixels of one character of the caption's font, measured by drawing 40."""
    probe = Figure(figsize=(8, 1), dpi=dpi)
    text = probe.text(0, 0, "0" * 40, family="monospace", fontsize=9)
    return text.get_window_extent(FigureCanvasAgg(probe).get_renderer()).width / 40


def _fit_width(image: np.ndarray, width: int) -> np.ndarray:
    """Crop or pad (white) ``image`` to ``width`` pixels."""
    if image.shape[1] >= width:
        return image[:, :width]
    pad = np.full((image.shape[0], width - image.shape[1], image.shape[2]), 255, dtype=image.dtype)
    return np.concatenate([image, pad], axis=1)


class Explorer(widgets.VBox):
    """Controls above an output that shows ``view(**values)``: a summary line and a figure.

    Args:
        view: called with one keyword per control, ``view(depth=8, skip=True)``; returns
            ``(summary, figure)``. Keep it under 1 s at the defaults (cache what repeats).
        controls: the ipywidgets controls, by the keyword ``view`` takes them under.

    Displayed, it stores beside the live widget a PNG of the default state with its summary:
    what a reader without a kernel sees (see the module's docstring). A subclass whose moves
    train sets :attr:`trains`: it then has a ``bar_output`` between the controls and the picture,
    for the progress bar of a move that takes longer than the budget.
    """

    trains = False  # a move may train: keep an output for its progress bar

    def __init__(self, view: View, **controls: widgets.ValueWidget) -> None:
        if not callable(view):
            raise TypeError(f"view must be a function returning (summary, figure), got {view!r}")
        if not controls:
            raise ValueError("an Explorer needs at least one control")
        self.view = view
        self.controls = controls
        self.output = widgets.Output()
        row = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
        self.bar_output = widgets.Output() if self.trains else None
        outputs = [self.output] if self.bar_output is None else [self.bar_output, self.output]
        super().__init__([row, *outputs])  # (a control that does not fit moves down whole)
        self.add_class(CSS_CLASS)
        self.summary, self.figure = self.current()
        png = figure_png(self.figure)  # drawn once: the stored picture and the live view share it
        self._store_default(png)
        for control in controls.values():
            control.observe(self.redraw, names="value")
        self._show(png)

    def _store_default(self, png: bytes) -> None:
        """Keep the stored picture: the default state's figure (drawn as ``png``) and summary."""
        self._default_png = captioned_png(self.summary, png)
        self._default_summary = self.summary

    def values(self) -> dict[str, object]:
        """The controls' current values, by keyword."""
        return {name: control.value for name, control in self.controls.items()}

    def current(self) -> tuple[str, Figure]:
        """What the view shows for the controls' current values."""
        return self.view(**self.values())

    def frames(self, **values: object) -> Iterator[tuple[str, Figure]]:
        """The pictures a move to ``values`` draws, in order, the last one the view's: here the
        view's alone; a view that trains may first draw what it has at once."""
        yield self.view(**values)

    def redraw(self, change: object = None) -> None:
        """Recompute the view for the current values and draw it (what moving a control does)."""
        for summary, figure in self.frames(**self.values()):
            self.summary, self.figure = summary, figure
            self._show()

    def _show(self, png: bytes | None = None) -> None:
        """Show the summary and the figure as ONE change of the output's state.

        Not ``clear_output(wait=True)`` then ``print`` and ``display`` inside ``with self.output``:
        that relies on the front end matching each message to the output it should land in, and
        a redraw just after Run All once left the summary on screen without its figure.
        """
        self._png = png or figure_png(self.figure)  # what is on screen
        png = base64.b64encode(self._png).decode("ascii")
        self.output.outputs = (
            {"output_type": "stream", "name": "stdout", "text": f"{self.summary}\n"},
            {
                "output_type": "display_data",
                "data": {"image/png": png, "text/plain": (self.summary.splitlines() or [""])[0]},
                "metadata": {},
            },
        )

    def picture_bundle(self) -> dict[str, str]:
        """The stored picture: the PNG of the default state, and its summary as plain text."""
        return {
            "image/png": base64.b64encode(self._default_png).decode("ascii"),
            "text/plain": f"{self._default_summary}\n{NOTE}",
        }

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        """The live widget, with a one-line note as its plain text (never ``VBox(...)``)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = LIVE_NOTE
        return bundle

    def _ipython_display_(self) -> None:
        """Display the picture, the live widget and the rules between them (three outputs)."""
        display(self.picture_bundle(), raw=True)
        display(self._repr_mimebundle_(), raw=True)
        display({"text/html": STYLE, "text/plain": ""}, raw=True)
