"""No production function is longer than a screen: 70 lines, decorators excluded.

A longer function is usually two; the composition roots (``create_app``) most of all.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("domain", "proto", "services", "credit_ledger")
LINES_MAX = 70


def long_functions(base: Path, packages: Iterable[str]) -> list[str]:
    found = []
    for package in packages:
        for path in sorted((base / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > LINES_MAX:
                        where = path.relative_to(base)
                        found.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_production_function_is_longer_than_seventy_lines() -> None:
    assert long_functions(ROOT, PRODUCTION) == []


def test_the_check_finds_a_function_one_line_too_long(tmp_path: Path) -> None:
    def function(name: str, lines: int) -> str:
        body = "\n".join(f"    x{n} = {n}" for n in range(lines - 1))
        return f"async def {name}() -> None:\n{body}\n\n\n"

    (tmp_path / "pkg").mkdir()
    source = function("fits", LINES_MAX) + function("too_long", LINES_MAX + 1)
    (tmp_path / "pkg" / "m.py").write_text(source)
    assert long_functions(tmp_path, ["pkg"]) == [f"pkg/m.py:{LINES_MAX + 3} too_long (71 lines)"]
