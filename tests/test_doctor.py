"""`coursekit doctor` reports this environment and says what to do when something is wrong."""

import subprocess
import sys

from coursekit.course import doctor
from coursekit.course.cli import main


def test_doctor_passes_in_the_test_environment(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in ("python", "torch", "jupyterlab", "ipywidgets", "cpu threads", "widget extension"):
        assert name in out
    assert "All set" in out


def test_doctor_names_a_missing_or_old_package_and_the_fix(monkeypatch, capsys):
    versions = {"torch": None, "ipywidgets": "7.6.0", "ipykernel": None}
    real = doctor._installed
    monkeypatch.setattr(doctor, "_installed", lambda dist: versions.get(dist, real(dist)))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "❌ fix torch" in out and "missing" in out
    assert "❌ fix ipywidgets" in out and "ipywidgets>=8.0 is needed" in out
    assert "❌ fix ipykernel" in out
    assert "cpu threads" not in out  # no torch, nothing to ask it
    assert "make lab" in out and "3 problem(s) found" in out


def test_doctor_takes_the_versions_from_the_package_itself(monkeypatch):
    real = doctor._installed
    monkeypatch.setattr(doctor, "_installed", lambda dist: "2.5.1" if dist == "torch" else real(dist))
    torch = next(f for f in doctor.diagnose() if f.name == "torch")
    assert not torch.ok and "torch==2.13.0 is needed" in torch.advice


def test_doctor_reports_a_missing_widget_extension(monkeypatch, tmp_path):
    monkeypatch.setattr("jupyter_core.paths.jupyter_path", lambda *parts: [str(tmp_path)])
    finding = doctor.check_widget_extension()
    assert not finding.ok and "jupyterlab_widgets" in finding.advice


def test_console_script_without_a_command_prints_help():
    done = subprocess.run([sys.executable, "-m", "coursekit.course.cli"], capture_output=True, text=True)
    assert done.returncode == 2 and "doctor" in done.stdout


def test_the_notebook_summary_is_machine_free_when_all_is_well(capsys, monkeypatch):
    doctor.show_environment()
    out = capsys.readouterr().out
    assert out.strip() == doctor.ALL_SET  # the same line on every machine: no path, no version
    assert "/" not in doctor.ALL_SET.replace("`", "") and not any(ch.isdigit() for ch in doctor.ALL_SET)
    real = doctor._installed
    monkeypatch.setattr(doctor, "_installed", lambda dist: None if dist == "torch" else real(dist))
    doctor.show_environment()  # a problem: the full report, with the advice
    out = capsys.readouterr().out
    assert "❌ fix torch" in out and "make lab" in out and doctor.ALL_SET not in out
