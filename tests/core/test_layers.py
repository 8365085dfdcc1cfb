"""The package graph: imports only go down, bert_core <- conversion <- bert_torch | bert_tf | bert_flax <- bertzoo.

Read with ``ast`` (module-level and function-level imports, and string literals handed to importlib), nothing is
imported, so a lazy or importlib import that climbs a layer fails here as surely as a top-level one. Within a
package no two modules may import each other (directly or through a loop), and no library file is over 300 lines.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ALLOWED = {
    "bert_core": set(),
    "conversion": {"bert_core"},
    "bert_torch": {"bert_core", "conversion"},
    "bert_tf": {"bert_core", "conversion"},
    "bert_flax": {"bert_core", "conversion"},
    "bertzoo": {"bert_core", "conversion", "bert_torch", "bert_tf", "bert_flax"},
}
FRAMEWORK_OF = {"torch": "pt", "tensorflow": "tf", "keras": "tf", "tf_keras": "tf", "tensorflow_text": "tf",
                "jax": "flax", "jaxlib": "flax", "flax": "flax", "optax": "flax", "orbax": "flax"}
ALLOWED_FRAMEWORKS = {"bert_core": set(), "conversion": set(), "bert_torch": {"pt"}, "bert_tf": {"tf"},
                      "bert_flax": {"flax"}, "bertzoo": set()}
# conversion's readers may use a framework's own reader lazily for its own format
CONVERSION_READERS = {"formats/torch_bin.py": {"pt"}, "formats/tf1_ckpt.py": {"tf"}}
OUR_MODULE = re.compile(r"(bert_torch|bert_tf|bert_flax|bertzoo|conversion)(\.[A-Za-z_]\w*)+")  # module tables for importlib


def imported_modules(path: pathlib.Path) -> set[str]:
    """Dotted names of every module the file imports, at any depth, plus importlib strings naming our modules."""
    found: set[str] = set()
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(list(package[: len(package) - node.level + 1]) + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and OUR_MODULE.fullmatch(node.value):
            found.add(node.value)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.add(str(node.args[0].value))
    return found


def library_files(package: str) -> list[pathlib.Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_only_go_down(package):
    bad = []
    for path in library_files(package):
        rel = path.relative_to(ROOT / package).as_posix()
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in ALLOWED and top != package and top not in ALLOWED[package]:
                bad.append(f"{package}/{rel} -> {module}")
            fw = FRAMEWORK_OF.get(top)
            readers = CONVERSION_READERS.get(rel, set()) if package == "conversion" else set()
            if fw and fw not in ALLOWED_FRAMEWORKS[package] | readers:
                bad.append(f"{package}/{rel} -> {top}")
    assert not bad, "imports that climb a layer or reach a sibling's framework:\n" + "\n".join(sorted(bad))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_module_cycles(package):
    modules = {}
    for path in library_files(package):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = {m: set() for m in modules}
    for name, path in modules.items():
        if path.name == "__init__.py":
            continue  # re-exports are not a cycle of roles
        for target in imported_modules(path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and modules[target].name != "__init__.py":
                graph[name].add(target)
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("module cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_library_files_are_small():
    big = [f"{p.relative_to(ROOT)}: {sum(1 for _ in p.open())} lines" for pkg in ALLOWED for p in library_files(pkg)
           if sum(1 for _ in p.open()) > 300]
    assert not big, "split these by role (<= 300 lines):\n" + "\n".join(big)
