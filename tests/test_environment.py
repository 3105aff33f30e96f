"""environment.yml (Binder) and pyproject.toml ask for the same packages and versions."""

import json
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_requirements() -> tuple[dict[str, SpecifierSet], str]:
    """Name -> specifier for every package environment.yml installs, and its python pin."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"], "Binder should resolve from conda-forge only"
    wanted: dict[str, SpecifierSet] = {}
    python = ""
    for entry in env["dependencies"]:
        if isinstance(entry, dict):  # the pip: section
            for line in entry["pip"]:
                if not line.startswith("-"):
                    req = Requirement(line)
                    wanted[req.name.lower()] = req.specifier
            continue
        if entry.startswith("python="):  # conda's single "=" pin
            python = entry.removeprefix("python=")
            continue
        req = Requirement(entry)
        if req.name not in NOT_PACKAGES:
            wanted[CONDA_TO_PYPI.get(req.name, req.name).lower()] = req.specifier
    return wanted, python


def test_environment_and_pyproject_name_the_same_packages_and_versions():
    declared = {
        Requirement(line).name.lower(): Requirement(line).specifier
        for line in _pyproject()["project"]["dependencies"]
    }
    wanted, _ = _environment_requirements()
    assert set(wanted) == set(declared), (
        f"only in pyproject.toml: {sorted(set(declared) - set(wanted))}; "
        f"only in environment.yml: {sorted(set(wanted) - set(declared))}"
    )
    for name, spec in declared.items():
        assert wanted[name] == spec, (
            f"{name}: pyproject.toml says {spec}, environment.yml says {wanted[name]}"
        )


def test_environment_python_satisfies_requires_python():
    _, python = _environment_requirements()
    assert python, "environment.yml should pin python"
    assert Version(python) in SpecifierSet(_pyproject()["project"]["requires-python"])


def test_torch_is_pinned_to_one_cpu_friendly_release():
    torch = next(Requirement(d) for d in _pyproject()["project"]["dependencies"] if d.startswith("torch"))
    assert str(torch.specifier).startswith("=="), "an unpinned torch pulls a multi-GB CUDA build"


def test_binder_installs_the_package_itself():
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert "pip install" in post_build.read_text() and "-e ." in post_build.read_text()


def test_make_lab_and_binder_install_the_course_lab_settings():
    settings = json.loads((ROOT / "jupyter" / "overrides.json").read_text(encoding="utf-8"))
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert "jupyter/overrides.json" in (ROOT / "postBuild").read_text(encoding="utf-8")
    lab_recipe = (ROOT / "Makefile").read_text(encoding="utf-8").split("\nlab:")[1].split("\n\n")[0]
    assert "jupyter/overrides.json" in lab_recipe
