"""The package's modules keep out of each other's private state: no module
reads or writes an ``_``-prefixed attribute or method that a class of
another rvdist module defines (issue 13 for ``Machine``, and the same rule
for the cluster package's job handles and executor)."""

from __future__ import annotations

import ast
from pathlib import Path

import rvdist

PACKAGE = Path(rvdist.__file__).parent


def _modules() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def _private_names(tree: ast.Module) -> set[str]:
    """Private attributes and methods the module's classes define on themselves."""
    names: set[str] = set()
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for node in ast.walk(cls):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = node.name
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in ("self", "cls") and isinstance(node.ctx, ast.Store):
                name = node.attr
            else:
                continue
            if name.startswith("_") and not name.startswith("__"):
                names.add(name)
    return names


def test_no_module_touches_another_modules_private_state() -> None:
    modules = _modules()
    owned = {path: _private_names(tree) for path, tree in modules.items()}
    assert {"_m", "_load_image", "_snapshot_id"} <= owned[PACKAGE / "machine.py"]
    assert {"_result", "_locate"} <= owned[PACKAGE / "cluster" / "jobs.py"]
    offenders = []
    for path, tree in modules.items():
        others = set().union(*(names for p, names in owned.items() if p != path)) - owned[path]
        # a name bound by `import x` is a module (ray._private is Ray's business)
        own = {"self", "cls"} | {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
                                 if isinstance(n, ast.Import) for a in n.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in others and not (
                    isinstance(node.value, ast.Name) and node.value.id in own):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node)}")
    assert offenders == []
