"""The one direction of imports (docs/architecture.md): engine imports only numpy and itself;
spec never imports the library (but its errors, parsing and on-disk cache), the renderers or the CLI; nothing but the CLI imports the CLI;
the renderers never import the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import moecalc

ROOT = Path(moecalc.__file__).parent


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("moecalc")}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("engine", "spec", "render", "cli") else "library"


ALLOWED = {"engine": {"engine"}, "spec": {"engine", "spec", "library:errors", "library:parsing", "library:cache"},
           "render": {"engine", "spec", "render", "library"}, "library": {"engine", "spec", "library", "render"},
           "cli": {"engine", "spec", "render", "library", "cli"}}


def test_imports_point_down():
    wrong = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        here = layer(".".join(rel.parts))
        for module in imports(path):
            there = layer(module)
            name = f"library:{module.split('.')[1]}" if there == "library" and module.count(".") else "library"
            if there not in ALLOWED[here] and name not in ALLOWED[here]:
                wrong.append(f"{rel}: imports {module}")
    assert not wrong, "\n".join(sorted(wrong))


def test_engine_functions_take_records():
    """Issue 11's interface rule: an engine entry point takes a handful of records, not a row of
    numbers (train_step took 23 before it took TrainLayout, TrainCluster and TrainRuntime). The
    limit counts every parameter but ``self``; a function over it is named with its count."""
    limit, wide = 11, []
    for path in (ROOT / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs if p.arg not in ("self", "cls")]
                if len(names) > limit:
                    wide.append(f"{path.relative_to(ROOT)}:{node.name} takes {len(names)}")
    assert not wide, "\n".join(wide)
