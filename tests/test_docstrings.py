"""Docstrings name code that exists: every ``moecalc.…`` / ``engine.…`` path imports, and every
``name()`` written as a call names something defined in moecalc. Stale names (``from_arch``
after ``arch.py`` went) fail here; config keys and JSON fields written as code are not checked."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import moecalc

ROOT = Path(moecalc.__file__).parent
SOURCES = {p: p.read_text(encoding="utf-8") for p in sorted(ROOT.rglob("*.py"))}
CODE = re.compile(r"``([A-Za-z_][\w.]*)(\(\))?``")


def _defined() -> set[str]:
    names = {p.stem for p in SOURCES} | {p.parent.name for p in SOURCES}
    for text in SOURCES.values():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.keyword) and node.arg:
                names.add(node.arg)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return names


def _docstrings(text: str):
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(node)
            if doc:
                yield doc


def _resolves(path: str) -> bool:
    parts = path.split(".")
    if parts[0] != "moecalc":
        parts = ["moecalc", *parts]
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_docstrings_name_code_that_exists():
    defined = _defined()
    stale = []
    for path, text in SOURCES.items():
        for doc in _docstrings(text):
            for ref, called in CODE.findall(doc):
                if ref.startswith(("moecalc.", "engine.")):
                    ok = _resolves(ref)
                elif called and "." not in ref:
                    ok = ref in defined
                else:
                    continue            # a config key, a JSON field, an expression
                if not ok:
                    stale.append(f"{path.relative_to(ROOT)}: {ref}")
    assert not stale, "\n".join(stale)
