"""Imports run one way: no import cycle between lib areas (folders, and the top-level modules), lib
never imports projects or configs, and a config imports only lib and its own project's configs."""
import ast
import os

from tests.helpers import REPO

LIB = os.path.join(REPO, "lib")


def _imports(path: str, package: str):
    """Absolute module names imported by the file at `path` (relative imports resolved)."""
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod
            yield from (f"{mod}.{a.name}" for a in node.names)


def _area(module: str) -> str | None:
    """lib.moe.layer -> 'moe'; lib.train -> 'train'; lib (the package) -> None."""
    parts = module.split(".")
    if parts[0] != "lib" or len(parts) < 2:
        return None
    name = parts[1]
    return name if os.path.isdir(os.path.join(LIB, name)) or os.path.isfile(os.path.join(LIB, name + ".py")) \
        else None


def _graph():
    edges, outside = {}, []
    for root, _, files in os.walk(LIB):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
            package = rel[:-len(".__init__")] if rel.endswith("__init__") else rel.rsplit(".", 1)[0]
            src = _area(rel if not rel.endswith("__init__") else package)
            for mod in _imports(path, package):
                if mod.split(".")[0] in ("projects", "configs"):
                    outside.append(f"{rel} imports {mod}")
                dst = _area(mod)
                if src and dst and dst != src:
                    edges.setdefault(src, set()).add(dst)
    return edges, outside


def _cycle(edges):
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        state[n] = "done"
        stack.pop()
        return None

    for n in sorted(edges):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_lib_areas_import_one_way():
    edges, outside = _graph()
    assert not outside, outside
    assert "models" in edges.get("moe", set())  # the graph is read (lib.moe.model builds on lib.models)
    assert _cycle(edges) is None, " -> ".join(_cycle(edges))


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_configs_stand_alone():
    """configs/<name>/*.py import from lib or configs.<name> only: editing one project's config never
    changes another's, and a fork's configs carry no other project's name."""
    bad = []
    configs = os.path.join(REPO, "configs")
    for name in sorted(os.listdir(configs)):
        folder = os.path.join(configs, name)
        if not os.path.isdir(folder) or name.startswith("__"):
            continue
        for f in sorted(os.listdir(folder)):
            if f.endswith(".py"):
                for mod in _imports(os.path.join(folder, f), f"configs.{name}"):
                    top = mod.split(".")
                    if top[0] == "projects" or (top[0] == "configs" and len(top) > 1 and top[1] != name):
                        bad.append(f"configs/{name}/{f} imports {mod}")
    assert not bad, bad
