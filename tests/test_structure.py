"""The shape of the house (docs/ARCHITECTURE.md), checked on the code itself: the import graph of
core/ has no cycle, core/ never imports streamlit, no project import hides inside a function to
dodge a cycle, pages stay thin, functions stay short and no block of code is written twice."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
PAGES = ROOT / "pages"

MAX_PAGE_LINES = 120
MAX_FUNCTION_LINES = 80
MIN_DUPLICATE_LINES = 6


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _core_files() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py"))


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The core.* modules that ``path`` imports (module level only, or everywhere)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "core"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "core":
            found.add(node.module)
            # "from core.generate import render" imports the module core.generate.render
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in _core_files()}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path, top_level_only=False) if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_of_core_has_no_cycle():
    graph = _graph()
    assert len(graph) > 30  # the walk really read the tree
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_core_never_imports_streamlit():
    for path in _core_files():
        assert not re.search(r"^\s*(import|from)\s+streamlit", path.read_text(), re.M), path


def test_no_project_import_inside_a_function():
    """Imports of core.* sit at the top of the module: a local import only hides a cycle."""
    offenders = []
    for path in _core_files() + sorted(PAGES.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").split(".")[0] in
                                                         ("core", "pages")):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} in {fn.name}()")
    assert not offenders, "\n".join(offenders)


def test_pages_are_thin():
    pages = [p for p in [ROOT / "app.py", *PAGES.rglob("*.py")]]
    too_long = {str(p.relative_to(ROOT)): n for p in pages if (n := len(p.read_text().splitlines())) > MAX_PAGE_LINES}
    assert not too_long, f"page files over {MAX_PAGE_LINES} lines: {too_long}"


def test_core_functions_are_short():
    long = []
    for path in _core_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}() {n} lines")
    assert not long, "\n".join(long)


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """Lines that carry code: no blanks, comments, docstring-only lines, imports or lone punctuation."""
    out = []
    for i, raw in enumerate(path.read_text().splitlines(), 1):
        line = " ".join(raw.split())
        if not line or line.startswith(("#", "import ", "from ", '"""', "'''", "@")):
            continue
        if re.fullmatch(r"[\[\](){},:;.]*", line):
            continue
        out.append((i, line))
    return out


def duplicate_blocks(paths: list[Path], *, size: int = MIN_DUPLICATE_LINES) -> list[str]:
    """Places where the same ``size`` consecutive code lines stand twice (exact, white space folded)."""
    seen: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in paths:
        lines = _code_lines(path)
        for k in range(len(lines) - size + 1):
            block = tuple(text for _, text in lines[k:k + size])
            seen[block].append(f"{path.relative_to(ROOT)}:{lines[k][0]}")
    found = []
    for places in seen.values():
        if len(places) > 1:
            found.append(" ~ ".join(places))
    return found


def test_the_duplicate_check_finds_a_copied_block(tmp_path):
    body = "\n".join(f"x{i} = compute({i}, y)" for i in range(7))
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text(body + "\n")
    b.write_text("z = 1\n" + body + "\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert duplicate_blocks([a, b])
    finally:
        ROOT = saved


@pytest.mark.parametrize("folder", ["core", "pages"])
def test_no_block_of_code_is_written_twice(folder):
    paths = sorted((ROOT / folder).rglob("*.py"))
    found = duplicate_blocks(paths)
    assert not found, "\n".join(found[:20])
