"""`coursekit doctor` reports this environment and says what to do when something is wrong."""

import subprocess
import sys

from coursekit import doctor
from coursekit.cli import main


def test_doctor_passes_in_the_test_environment(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in ("python", "torch", "jupyterlab", "ipywidgets", "cpu threads", "widget extension"):
        assert name in out
    assert "All set" in out


def test_doctor_names_a_missing_or_old_package_and_the_fix(monkeypatch, capsys):
    versions = {"torch": None, "ipywidgets": "7.6.0"}
    real = doctor._installed
    monkeypatch.setattr(doctor, "_installed", lambda dist: versions.get(dist, real(dist)))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "❌ torch" in out and "missing" in out
    assert "❌ ipywidgets" in out and "8.0 or newer" in out
    assert "make lab" in out and "2 problem(s) found" in out


def test_doctor_reports_a_missing_widget_extension(monkeypatch, tmp_path):
    monkeypatch.setattr("jupyter_core.paths.jupyter_path", lambda *parts: [str(tmp_path)])
    finding = doctor.check_widget_extension()
    assert not finding.ok and "jupyterlab_widgets" in finding.advice


def test_console_script_without_a_command_prints_help():
    done = subprocess.run([sys.executable, "-m", "coursekit.cli"], capture_output=True, text=True)
    assert done.returncode == 2 and "doctor" in done.stdout
