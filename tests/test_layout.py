"""The package's layers: each module imports only from the layers below it, with no circles,
and notebooks import only the public modules."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "coursekit"

# the lowest layer first; a module may import from a lower rank, or within its own folder
RANKS = {
    "coursekit.validate": 0,
    "coursekit.seeding": 0,
    "coursekit.work.layout": 0,  # standard library only: every layer may read the layout
    "coursekit.work.progress": 1,  # the progress file, which the checks write
    "coursekit.data": 1,
    "coursekit.text": 1,  # the capstone's bundled text
    "coursekit.nn": 1,
    "coursekit.measures": 2,
    "coursekit.probes": 3,
    "coursekit.training": 4,  # the textbook loop a learner reads
    "coursekit.engine": 5,  # the batched engine, for the maintainers: below the experiments it runs
    "coursekit.experiments": 6,
    "coursekit.plots": 7,
    "coursekit.checks": 7,
    "coursekit.widgets": 8,
    "coursekit.course": 9,
    "coursekit": 10,  # the public API re-exports the layers; nothing inside imports it
}
LEARNERS_ROOMS = ("coursekit.nn", "coursekit.training")  # what a learner reads: never the engine
PUBLIC = {"coursekit", "coursekit.checks", "coursekit.widgets", "coursekit.plots"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(name: str) -> tuple[int, str]:
    """``(rank, layer)``: the rank of the longest layer name that ``name`` falls under."""
    layer = max((k for k in RANKS if name == k or name.startswith(k + ".")), key=len)
    return RANKS[layer], layer


def imports_of(path: Path) -> set[str]:
    """Every coursekit module that ``path`` imports, anywhere in the file (late imports too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "coursekit"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "coursekit":
                continue
            # `from . import x` may name submodules: count them as imported
            submodules = {f"{target}.{a.name}" for a in node.names}
            found |= {m for m in submodules if m in MODULES} or {target}
    return found - {name}


FILES = sorted(PACKAGE.rglob("*.py"))
MODULES = {module_name(p) for p in FILES}
GRAPH = {module_name(p): imports_of(p) for p in FILES}


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_each_module_imports_only_from_lower_layers(name: str) -> None:
    if name == "coursekit":
        return
    own_rank, own_layer = rank(name)
    for target in GRAPH[name]:
        target_rank, target_layer = rank(target)
        same_folder = target_layer == own_layer
        assert same_folder or target_rank < own_rank, (
            f"{name} (layer {own_layer}, rank {own_rank}) imports {target} "
            f"(layer {target_layer}, rank {target_rank}): layers import only from those below them"
        )


def test_the_learners_rooms_never_import_the_engine() -> None:
    """``nn/`` and ``training/`` are the textbook a learner reads: the engine sits above them and
    they know nothing of it (the ranks say so too; this says why, and holds if ranks move)."""
    reach = {
        name: sorted(t for t in targets if rank(t)[1] == "coursekit.engine")
        for name, targets in GRAPH.items()
        if rank(name)[1] in LEARNERS_ROOMS
    }
    assert reach, "no module found in nn/ or training/"
    assert not any(reach.values()), {k: v for k, v in reach.items() if v}
    assert rank("coursekit.training")[0] < rank("coursekit.engine")[0] < rank("coursekit.experiments")[0]


def test_the_import_graph_has_no_cycle() -> None:
    resolved = {n: {t if t in GRAPH else t.rsplit(".", 1)[0] for t in ts} for n, ts in GRAPH.items()}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(resolved.get(node, ())):
            if target not in GRAPH:
                continue
            assert state.get(target) != "open", "import cycle: " + " -> ".join([*path, node, target])
            if target not in state:
                visit(target, [*path, node])
        state[node] = "done"

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [])


def test_the_cycle_test_can_fail() -> None:
    """The checker above, on a graph with a circle, finds it (guards against a vacuous test)."""
    assert rank("coursekit.experiments.models") == (6, "coursekit.experiments")
    assert rank("coursekit.engine.fused") == (5, "coursekit.engine")
    assert rank("coursekit.work.layout") == (0, "coursekit.work.layout")
    assert imports_of(PACKAGE / "course" / "build.py") >= {"coursekit.work.layout"}


FOLDERS = ("notebooks", "solutions", "exercises")
NOTEBOOKS = sorted(p for folder in FOLDERS for p in (ROOT / folder).glob("*.ipynb"))


def notebook_imports(path: Path) -> set[str]:
    found = set()
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
    return {m for m in found if m.split(".")[0] == "coursekit"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_import_only_the_public_modules(path: Path) -> None:
    deeper = notebook_imports(path) - PUBLIC
    assert not deeper, f"{path.name} imports {sorted(deeper)}; notebooks may import only {sorted(PUBLIC)}"
