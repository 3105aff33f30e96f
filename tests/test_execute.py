"""`coursekit execute` stores fresh outputs and no timing noise, and refuses bad paths."""

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from coursekit.course.cli import main


def test_execute_stores_outputs_without_timings(tmp_path):
    path = tmp_path / "lesson.ipynb"
    cell = new_code_cell("print(6 * 7)")
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}  # left by another tool
    nbformat.write(new_notebook(cells=[cell]), path)

    assert main(["execute", str(tmp_path)]) == 0

    (cell,) = nbformat.read(path, as_version=4).cells
    assert cell.outputs[0]["text"] == "42\n"
    assert "execution" not in cell.metadata


def test_execute_reports_a_failing_notebook_and_leaves_it_alone(tmp_path, capsys):
    path = tmp_path / "broken.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1 / 0")]), path)
    before = path.read_text()
    assert main(["execute", str(path)]) == 1
    assert "ZeroDivisionError" in capsys.readouterr().err
    assert path.read_text() == before


def test_execute_refuses_a_path_that_is_not_a_notebook(tmp_path, capsys):
    assert main(["execute", str(tmp_path / "missing.ipynb")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_execute_stores_no_widget_model_ids(tmp_path):
    """A widget's model id is new on every run: stored, it would be noise in every diff."""
    path = tmp_path / "lesson.ipynb"
    code = "import ipywidgets\nipywidgets.IntSlider(3)"
    nbformat.write(new_notebook(cells=[new_code_cell(code)]), path)
    assert main(["execute", str(path)]) == 0
    (cell,) = nbformat.read(path, as_version=4).cells
    views = [o["data"]["application/vnd.jupyter.widget-view+json"] for o in cell.outputs if "data" in o]
    assert views and all(view["model_id"] == "" for view in views)
    first = path.read_text()
    assert main(["execute", str(path)]) == 0
    assert path.read_text() == first  # a second run stores the same thing


def test_stored_outputs_carry_nothing_of_the_machine_that_ran_them():
    """No path, user or host of the maintainer's machine in what notebooks/ and solutions/ store."""
    import json
    import socket
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    machine = {str(root), str(Path.home()) + "/", "site-packages", "/tmp/", ".venv/"}
    host = socket.gethostname()
    if len(host) >= 6 and host != "localhost":  # a short name would match ordinary words
        machine.add(host)
    found = []
    for path in sorted((root / "notebooks").glob("*.ipynb")) + sorted((root / "solutions").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for output in cell.get("outputs", []):
                texts = (
                    [output.get("text", "")]
                    + [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
                    + output.get("traceback", [])
                )
                text = "".join("".join(t) if isinstance(t, list) else str(t) for t in texts)
                found += [f"{path.name} cell {cell.get('id')}: {m}" for m in machine if m in text]
    assert not found, "stored outputs name this machine:\n" + "\n".join(found)
