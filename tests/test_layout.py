"""The shape of the code: no import cycles in app/, small modules, the call core free of I/O."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
MAX_LINES = 400
# The sans-I/O core (DESIGN.md): none of these may import an I/O library.
SANS_IO = ("machine", "events", "actions", "playback", "transcript", "hold", "ladder")
IO_LIBRARIES = ("asyncio", "starlette", "httpx", "sqlalchemy", "websockets", "socket", "twilio")


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in APP.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every app module this one imports, TYPE_CHECKING imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found.update(name for name in names if name in modules)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_app_has_no_import_cycles() -> None:
    modules = _modules()
    graph = {
        name: {m for m in _imports(path, modules) if m != name and not name.startswith(m + ".")}
        for name, path in modules.items()
    }
    assert _cycle(graph) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_is_long_without_saying_why() -> None:
    long = [
        str(p.relative_to(APP.parent))
        for p in APP.rglob("*.py")
        if len(p.read_text().splitlines()) > MAX_LINES
        and "longer than" not in (ast.get_docstring(ast.parse(p.read_text())) or "")
    ]
    assert long == []


def test_call_core_is_sans_io() -> None:
    for name in SANS_IO:
        tree = ast.parse((APP / "call" / f"{name}.py").read_text())
        imported = {
            alias.name.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for alias in n.names
        } | {
            n.module.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module
        }
        assert not imported & set(IO_LIBRARIES), name


def test_the_service_carries_no_test_doubles_or_benchmarks() -> None:
    assert not (APP / "testing").exists()
    assert not (APP / "bench.py").exists()
