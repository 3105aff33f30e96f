"""Pictures without a kernel: every widget a lesson stores comes with a static picture.

A reader on GitHub, in an nbconvert export, or in JupyterLab before running the notebook
sees only what the notebook stores. A cell that stores a live widget (an
``application/vnd.jupyter.widget-view+json`` output) must also store an ``image/png``, and
nothing a learner reads may be a bare ``VBox(...)`` repr.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WIDGET = "application/vnd.jupyter.widget-view+json"
STORED = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


def widget_cells_without_a_picture(notebook: dict) -> list[str]:
    """The ids (or indices) of code cells that store a widget but no PNG."""
    missing = []
    for index, cell in enumerate(notebook["cells"]):
        outputs = cell.get("outputs", []) if cell["cell_type"] == "code" else []
        if not any(WIDGET in o.get("data", {}) for o in outputs):
            continue
        pngs = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
        if not any(base64.b64decode("".join(p))[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs):
            missing.append(str(cell.get("id", index)))
    return missing


def texts(notebook: dict) -> list[str]:
    """Every plain-text output stored, as one string each."""
    found = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", output.get("text", ""))
            found.append("".join(text) if isinstance(text, list) else text)
    return found


@pytest.mark.parametrize("path", STORED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_stored_widget_has_a_picture(path: Path) -> None:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    missing = widget_cells_without_a_picture(notebook)
    assert not missing, (
        f"{path.name}: cells {', '.join(missing)} store a widget without a picture; build the widget "
        f"as a coursekit.widgets.Explorer and re-run `coursekit execute {path.relative_to(ROOT)}`"
    )
    bare = [t[:60] for t in texts(notebook) if t.startswith(("VBox(", "HBox(", "Output("))]
    assert not bare, f"{path.name} shows a widget's repr to readers without a kernel: {bare}"


def test_the_scan_finds_a_widget_without_a_picture() -> None:
    """The test above can fail: a widget output with no PNG beside it is caught."""
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 10).decode()
    widget = {"output_type": "display_data", "data": {WIDGET: {"model_id": "x"}, "text/plain": "VBox()"}}
    picture = {"output_type": "display_data", "data": {"image/png": png, "text/plain": "a picture"}}
    cells = [
        {"cell_type": "code", "id": "bare", "outputs": [widget]},
        {"cell_type": "code", "id": "pictured", "outputs": [picture, widget]},
        {"cell_type": "markdown", "id": "prose"},
    ]
    assert widget_cells_without_a_picture({"cells": cells}) == ["bare"]


def test_an_explorer_displays_its_picture_beside_the_live_widget() -> None:
    """What the notebook stores when an Explorer is displayed: picture, widget, rules."""
    pytest.importorskip("ipywidgets")
    import ipywidgets
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib.figure import Figure

    from coursekit.widgets import Explorer
    from coursekit.widgets.explorer import STYLE

    def view(n: int) -> tuple[str, Figure]:
        fig = Figure(figsize=(3, 2))
        fig.add_subplot().plot(range(n))
        return f"n = {n}", fig

    shell = InteractiveShell.instance()
    published = []
    real = shell.display_pub.publish
    shell.display_pub.publish = lambda data, metadata=None, **kw: published.append(data)
    try:
        Explorer(view, n=ipywidgets.IntSlider(5, 2, 9))._ipython_display_()
    finally:
        shell.display_pub.publish = real
    outputs = [d for d in published if "image/png" in d or WIDGET in d or "text/html" in d][-3:]
    picture, live, rules = outputs
    assert base64.b64decode(picture["image/png"])[:4] == b"\x89PNG" and "n = 5" in picture["text/plain"]
    assert WIDGET in live and not live["text/plain"].startswith("VBox")
    assert rules["text/html"] == STYLE


def test_a_move_replaces_the_summary_and_the_figure_together() -> None:
    """The live output is one state change per draw (summary, then PNG): no clear-then-append race."""
    import ipywidgets
    from matplotlib.figure import Figure

    from coursekit.widgets import Explorer

    def view(n: int) -> tuple[str, Figure]:
        fig = Figure(figsize=(3, 2))
        fig.add_subplot().plot(range(n))
        return f"n = {n}", fig

    explorer = Explorer(view, n=ipywidgets.IntSlider(5, 2, 9))
    first = explorer.output.outputs
    explorer.controls["n"].value = 7
    summary, figure = explorer.output.outputs
    assert summary == {"output_type": "stream", "name": "stdout", "text": "n = 7\n"}
    assert base64.b64decode(figure["data"]["image/png"])[:4] == b"\x89PNG"
    assert figure["data"]["image/png"] != first[1]["data"]["image/png"]


def test_an_html_export_shows_each_widget_as_its_picture() -> None:
    """nbconvert (what many course sites publish) shows the picture, not the widget's repr."""
    nbconvert = pytest.importorskip("nbconvert")
    import nbformat

    path = ROOT / "notebooks" / "00_start_here.ipynb"
    notebook = nbformat.read(path, as_version=4)
    widget_cells = [
        cell for cell in notebook.cells if any(WIDGET in o.get("data", {}) for o in cell.get("outputs", []))
    ]
    assert widget_cells, "the start-here notebook stores a widget"
    html, _ = nbconvert.HTMLExporter().from_notebook_node(notebook)
    assert html.count('src="data:image/png;base64,') >= len(widget_cells)
    shown = re.sub(r"<style.*?</style>", "", html, flags=re.DOTALL)  # what a reader sees, not the rules
    assert "VBox(" not in shown and "Error displaying widget" not in shown


def test_a_long_summary_is_wrapped_into_the_picture_not_cut() -> None:
    """The summary above the plot wraps at words inside the picture's width."""
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    from coursekit.widgets.explorer import _char_px, captioned_png

    figure = Figure(figsize=(6, 3.6))
    figure.add_subplot().plot([1, 2, 3])
    short = imread(io.BytesIO(captioned_png("depth 8", figure)), format="png")
    summary = " | ".join(f"scaled × 0.5 after {n} blocks: 2.3e-10" for n in range(8))
    long = imread(io.BytesIO(captioned_png(summary, figure)), format="png")
    assert long.shape[1] == short.shape[1] == 600  # the figure's width: nothing drawn beyond it
    chars = int((600 - 16) / _char_px(100.0))
    assert long.shape[0] - short.shape[0] >= 15 * (len(summary) // chars)  # a line of text per wrap
