"""The code's layout is its architecture: each subsystem imports only those before it on the data path."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The data path, in order: a subpackage may import itself and the ones before it, never one after.
ORDER = ("core", "storage", "ingest", "analytics", "live", "risk", "fleet")
UI = ("dash", "dash_ag_grid", "dash_extensions", "flask", "werkzeug", "api", "views", "layouts", "callbacks")


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def modules(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts)


def subsystem(path: Path) -> str | None:
    parts = path.relative_to(ROOT / "services").parts
    return parts[0] if len(parts) > 1 else None


@pytest.mark.parametrize("path", modules("services"), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_service_imports_only_what_comes_before_it(path: Path) -> None:
    mine = subsystem(path)
    for name in imports(path):
        head, _, rest = name.partition(".")
        assert head not in UI, f"{name}: services/ stays free of Dash, Flask and the web layers"
        if head != "services" or mine is None:
            continue
        theirs = rest.split(".")[0]
        if theirs == "runtime":  # the wiring sees the runtime; a subsystem's wiring.py attaches it there
            assert path.name == "wiring.py", f"{name}: only a subsystem's wiring.py may see the runtime"
            continue
        assert theirs in ORDER, f"{name}: services/ holds only the subsystems {ORDER} and runtime.py"
        assert ORDER.index(theirs) <= ORDER.index(mine), f"{mine} may not import {theirs}, which comes after it"


def test_every_subsystem_is_in_the_order() -> None:
    found = {p.name for p in (ROOT / "services").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert found == set(ORDER)
