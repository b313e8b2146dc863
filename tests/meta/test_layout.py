"""The layout's rules, checked on the source (docs/ARCHITECTURE.md, "Import rules").

- ``cronflow.core`` is pure: it imports no shell, CLI or plugin module, no process, clock,
  socket or database library, directly or through what it imports, and reads no clock.
- Nothing but ``cronflow.cli`` itself and ``python -m cronflow`` imports the CLI.
- There are no import circles, counting imports inside functions (they are still edges:
  hiding a circle in a function only moves the failure to run time).
- No module is longer than 400 lines.
- The web stack (``cronflow[web]``: starlette, uvicorn, jinja2) is imported by
  ``cronflow.web`` alone, and ``cronflow.web`` by the ``web`` verb alone, so the daemon
  and ``cronflow --help`` never load it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cronflow"
MAX_LINES = 400

# What a pure module may not reach: the effects the shell owns, and the seams above it.
FORBIDDEN_IN_CORE = (
    "os", "time", "subprocess", "socket", "sqlite3", "asyncio", "fcntl", "signal",
    "threading", "shutil", "click", "pluggy", "watchfiles", "filelock",
    "cronflow.shell", "cronflow.cli", "cronflow.plugins", "cronflow.builtin", "cronflow.api",
    "cronflow.hookspecs",
)
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
               ("time", "time"), ("time", "monotonic"), ("time", "time_ns"), ("time", "perf_counter")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text(), str(MODULES[name]))


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imported(name: str) -> Iterator[tuple[str, int]]:
    """Every module ``name`` imports, anywhere in it, with the line: for ``from a import b``
    that is ``a.b`` when it is a module of ours, else ``a``."""
    package = name if _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in MODULES else base), node.lineno


def ours(names: Iterator[tuple[str, int]]) -> set[str]:
    return {n for n, _ in names if n in MODULES}


def _forbidden(target: str) -> str | None:
    for banned in FORBIDDEN_IN_CORE:
        if target == banned or target.startswith(banned + "."):
            return banned
    return None


CORE = sorted(n for n in MODULES if n == "cronflow.core" or n.startswith("cronflow.core."))


@pytest.mark.parametrize("name", CORE)
def test_core_imports_nothing_impure(name: str) -> None:
    bad = [f"{MODULES[name]}:{line}: imports {target}"
           for target, line in imported(name) if _forbidden(target)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", CORE)
def test_core_reaches_nothing_impure_through_its_imports(name: str) -> None:
    seen, stack, parent = {name}, [name], {name: ""}
    while stack:
        current = stack.pop()
        for target, _ in imported(current):
            if _forbidden(target):
                chain = [target, current]
                while parent.get(chain[-1]):
                    chain.append(parent[chain[-1]])
                pytest.fail(" <- ".join(chain))
            if target in MODULES and target not in seen:
                seen.add(target)
                parent[target] = current
                stack.append(target)


@pytest.mark.parametrize("name", CORE)
def test_core_reads_no_clock(name: str) -> None:
    bad = []
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else (
                owner.attr if isinstance(owner, ast.Attribute) else None)
            if (owner_name, node.func.attr) in CLOCK_CALLS:
                bad.append(f"{MODULES[name]}:{node.lineno}: {owner_name}.{node.func.attr}()")
    assert not bad, "the core takes `now` as a parameter:\n" + "\n".join(bad)


def test_nothing_imports_the_cli() -> None:
    bad = [f"{MODULES[name]}:{line}: imports {target}"
           for name in MODULES
           if not (name == "cronflow.cli" or name.startswith("cronflow.cli.") or name == "cronflow.__main__")
           for target, line in imported(name)
           if target == "cronflow.cli" or target.startswith("cronflow.cli.")]
    assert not bad, "\n".join(bad)


WEB_STACK = ("starlette", "uvicorn", "jinja2")


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_only_the_web_package_imports_the_web_stack() -> None:
    bad = [f"{MODULES[name]}:{line}: imports {target}"
           for name in MODULES if not _in(name, "cronflow.web")
           for target, line in imported(name)
           if any(_in(target, lib) for lib in WEB_STACK)]
    assert not bad, "\n".join(bad)


def test_only_the_web_verb_imports_the_web_package() -> None:
    bad = [f"{MODULES[name]}:{line}: imports {target}"
           for name in MODULES if not (_in(name, "cronflow.web") or name == "cronflow.cli.web")
           for target, line in imported(name) if _in(target, "cronflow.web")]
    assert not bad, "\n".join(bad)


def test_help_loads_no_web_stack() -> None:
    """``cronflow --help`` (a real process) has imported none of the web stack."""
    import subprocess
    import sys

    probe = ("import sys\nfrom cronflow.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in %r or m.startswith('cronflow.web')))"
             % (WEB_STACK,))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout
    assert out.strip().splitlines()[-1] == "[]", out


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    graph = {name: sorted(ours(imported(name)) - {name}) for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    return found


def test_no_import_circles() -> None:
    cycles = _cycles()
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines (at most {MAX_LINES})"


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The rules above catch what they say they catch (on a made-up module)."""
    source = "import os\nfrom datetime import datetime\n\ndef f():\n    return datetime.now()\n"
    node = ast.parse(source)
    assert any(isinstance(n, ast.Import) and _forbidden(n.names[0].name) for n in ast.walk(node))
    assert any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and (n.func.value.id, n.func.attr) in CLOCK_CALLS for n in ast.walk(node)
               if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and isinstance(n.func.value, ast.Name))
