"""The house's shape: every import of the package (at module level or inside a function) points down the
layers below, and no modules import each other in a circle. docs/architecture.md explains the layers."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Top to bottom. A module may import modules of its own layer (without a circle) or of any layer below.
LAYERS = [
    ("commands", ["ganforge.__main__", "ganforge.cli"]),
    ("the Python API", ["ganforge.api", "ganforge"]),  # the package top re-exports ganforge.api's names
    ("pages", ["ganforge.web", "ganforge.lab2d"]),
    ("using a trained generator", ["ganforge.exporting", "ganforge.webexport", "ganforge.scoring", "ganforge.generate", "ganforge.exported"]),
    ("training", ["ganforge.training", "ganforge.recipes"]),
    ("configuration", ["ganforge.config", "ganforge.config_check", "ganforge.presets"]),
    ("metrics", ["ganforge.metrics"]),
    ("data", ["ganforge.data", "ganforge.augment"]),
    ("networks and sampling", ["ganforge.models", "ganforge.losses", "ganforge.sampling", "ganforge.checkpoint"]),
    ("base", ["ganforge.files", "ganforge.device", "ganforge.threads", "ganforge.grid", "ganforge.stats", "ganforge.errors", "ganforge.version"]),
]


def modules() -> dict[str, Path]:
    out = {}
    for p in (SRC / "ganforge").rglob("*.py"):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file. Importing ``a.b.c`` also runs the
    packages ``a.b`` and ``a`` first, unless the importer lives inside them (then they already run)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importer's package upwards
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for t in targets:
            if not (t == "ganforge" or t.startswith("ganforge.")):
                continue
            while t not in known:
                t = t.rpartition(".")[0]
            found.add(t)
            parent = t.rpartition(".")[0]
            while parent and not (name == parent or name.startswith(parent + ".")):
                found.add(parent)
                parent = parent.rpartition(".")[0]
    found.discard(name)
    return found


def layer_of(name: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (name == p or (p != "ganforge" and name.startswith(p + "."))) and (best is None or len(p) > len(best[1])):
                best = (i, p)
    assert best is not None, f"{name} is in no layer; add it to LAYERS and to docs/architecture.md"
    return best[0]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_import_points_down_the_layers():
    wrong = []
    for name, targets in sorted(graph().items()):
        for t in sorted(targets):
            if layer_of(t) < layer_of(name):
                wrong.append(f"{name} ({LAYERS[layer_of(name)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})")
    assert not wrong, "imports that point up:\n" + "\n".join(wrong)


def test_no_modules_import_each_other_in_a_circle():
    g = graph()
    state, stack, circles = {}, [], []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for t in sorted(g.get(n, ())):
            if state.get(t) == "open":
                circles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[n] = "done"

    for n in sorted(g):
        if n not in state:
            visit(n)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_checks_see_function_level_imports_and_parent_packages(tmp_path):
    """The graph is built from every import statement, so a circle hidden inside a function is found."""
    known = {"ganforge.a": tmp_path / "a.py", "ganforge.b.c": tmp_path / "c.py", "ganforge.b": tmp_path / "b.py",
             "ganforge": tmp_path / "g.py"}
    (tmp_path / "a.py").write_text("def f():\n    from ganforge.b.c import x\n")
    (tmp_path / "c.py").write_text("import os\n")
    assert imports("ganforge.a", known["ganforge.a"], known) == {"ganforge.b.c", "ganforge.b"}  # not its own root


def test_every_module_says_what_it_is_for_and_stays_small():
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        doc = ast.get_docstring(tree)
        assert doc and doc.strip(), f"{name} has no opening docstring saying what it is for"
        lines = len(path.read_text().splitlines())
        assert lines <= 420, f"{name} has {lines} lines; split it (the house keeps files to about 100-400)"
