"""Nothing in the repository refers to a file outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKDOWN_NAME = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
OUTSIDE = re.compile(r"\.\./(shared|\.library)")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    keep = (".py", ".ipynb", ".md", ".toml", ".cfg", ".yml", ".txt")
    return [ROOT / n for n in names.split() if n.endswith(keep) or n in ("Makefile", "postBuild", ".ci/run")]


def test_every_markdown_file_named_is_in_the_repository() -> None:
    present = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    missing = []
    for path in tracked_text_files():
        if not path.exists():
            continue
        for name in MARKDOWN_NAME.findall(path.read_text(encoding="utf-8", errors="replace")):
            if Path(name).name not in present:
                missing.append(f"{path.relative_to(ROOT)} names {name}")
    assert not missing, "files named but not in the repository:\n" + "\n".join(missing)


def test_nothing_points_outside_the_repository() -> None:
    found = [
        str(p.relative_to(ROOT))
        for p in tracked_text_files()
        if p.exists() and OUTSIDE.search(p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not found, f"these files point outside the repository: {found}"
