"""The layers of tether and their one direction of imports (docs/architecture.md): a module
imports only from its own layer or the layers below it. Imports under ``TYPE_CHECKING`` are
annotations, not dependencies, and are not counted; imports inside functions are."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tether"

#: module (or package) -> layer; the longest prefix of a module's name decides its layer
LAYERS: dict[str, int] = {
    # 0: data and errors
    "tether.errors": 0, "tether.records": 0, "tether.text": 0, "tether._version": 0,
    # 1: services that know nothing of steps
    "tether.io._private": 1, "tether.io.readers": 1, "tether.io.writers": 1,
    "tether.llm": 1, "tether.embed": 1, "tether.report": 1,
    # 2: the step contract and the run directory's format
    "tether.core": 2,
    # 3: the steps and what they build on
    "tether.io": 3, "tether.generate": 3, "tether.curate": 3, "tether.audit": 3, "tether.lineage": 3,
    "tether.pipeline.builtins": 3,
    # 4: the executor
    "tether.pipeline": 4,
    # 5: commands over runs, the CLI, the package's front door
    "tether.lineage.rerun": 5, "tether.lineage.trace": 5, "tether.cli": 5, "tether": 5, "tether.__main__": 5,
}


#: package front doors that re-export from a higher layer than their modules: the package root
#: itself sits there, and nothing below imports it (``tether.lineage`` re-exports ``trace``)
ROOTS: dict[str, int] = {"tether.lineage": 5}


def layer_of(module: str) -> int:
    if module in ROOTS:
        return ROOTS[module]
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) of every tether import outside ``if TYPE_CHECKING:`` blocks."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tether") and node.level == 0:
            out.append((node.lineno, node.module))
            for alias in node.names:  # `from tether.core import step` imports tether.core.step
                out.append((node.lineno, f"{node.module}.{alias.name}"))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("tether")]
    return out


def _known(module: str) -> str:
    """``module`` itself, or its package when the name is an attribute (``tether.core.step.Step``)."""
    while module.count(".") and not (SRC.parent / module.replace(".", "/")).with_suffix(".py").exists() \
            and not (SRC.parent / module.replace(".", "/")).is_dir():
        module = module.rsplit(".", 1)[0]
    return module


def test_every_import_points_down_or_sideways() -> None:
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        mod = module_name(path)
        here = layer_of(mod)
        for line, target in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            there = layer_of(_known(target))
            if there > here:
                wrong.append(f"{path.relative_to(SRC.parent)}:{line}: {mod} (layer {here}) imports {target} "
                             f"(layer {there})")
    assert not wrong, "imports against the layers (docs/architecture.md):\n" + "\n".join(sorted(set(wrong)))


def test_the_layer_map_names_real_modules() -> None:
    for name in LAYERS:
        path = SRC.parent / name.replace(".", "/")
        assert path.is_dir() or path.with_suffix(".py").exists(), name


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    tree = ast.parse("from tether.pipeline.runner import Runner\n")
    (line, target), = [i for i in _imports(tree) if i[1] == "tether.pipeline.runner"]
    assert layer_of(_known(target)) > layer_of("tether.core.step")  # a step contract importing the runner
    typed = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tether.pipeline import Pipeline\n")
    assert _imports(typed) == []  # annotations only
