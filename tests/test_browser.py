"""A learner's first minutes in a real browser.

JupyterLab serves a copy of the start-here notebook, headless Chromium (Debian's package,
driven by Playwright) runs every cell, and moving the widget's slider must change what the
widget shows. Skipped where Chromium is missing, unless COURSEKIT_BROWSER_TEST=required
(as in CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "00_start_here.ipynb"
CHROMIUM = os.environ.get("COURSEKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("COURSEKIT_BROWSER_TEST") == "required":
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab on localhost serving a scratch folder holding a copy of the notebook."""
    _require(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    folder = tmp_path_factory.mktemp("lab")
    # A copy without outputs: autosave must not touch the course, and all we see must be new.
    notebook = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, folder / NOTEBOOK)
    port, token, log = _free_port(), secrets.token_hex(16), folder / "jupyterlab.log"
    env = {**os.environ, "COURSEKIT_PROGRESS": str(folder / "progress.json")}
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        f"--ServerApp.root_dir={folder}",
        f"--IdentityProvider.token={token}",
        f"--LabApp.workspaces_dir={folder}",
    ]
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/api/status?token={token}", server, log)
        yield f"{base}/lab/tree/{NOTEBOOK}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def test_start_here_runs_and_the_slider_changes_the_widget(lab: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(lab)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            sync_api.expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=90_000)
            select_kernel = page.get_by_role("button", name="Select", exact=True)
            if select_kernel.is_visible():  # JupyterLab may still ask which kernel to start
                select_kernel.click()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            summary = page.locator(".widget-output pre").filter(has_text="depth")
            sync_api.expect(summary.first).to_contain_text("depth 8 |", timeout=120_000)
            before = summary.first.inner_text()
            assert page.locator(".widget-output img").count() >= 1, "no plot drawn"

            readout = page.locator(".widget-slider .widget-readout").first
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("30")
            page.keyboard.press("Enter")
            sync_api.expect(summary.first).to_contain_text("depth 30 |", timeout=60_000)
            after = summary.first.inner_text()

            assert after != before
            ratios = [re.findall(r"first/last = ([\d.e+-]+)", text) for text in (before, after)]
            assert ratios[0] != ratios[1], "the numbers did not change with the depth"
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert "Traceback" not in " ".join(errors.all_inner_texts())
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(f"screenshot: {tmp_path / 'failure.png'}")
            raise
        finally:
            browser.close()
