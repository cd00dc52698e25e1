"""The import boundaries of pyproject.toml hold, and a forbidden import breaks the check.

``make test`` runs ``lint-imports`` on the tree; these tests run it on a copy of the tree,
once as it is and once with one forbidden import added, so a contract that could never
fail would show here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "proto", "services", "credit_ledger")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, ahead of the editable install of the real tree.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def with_line(root: Path, relative: str, line: str) -> Path:
    """A copy of ``root`` whose file ``relative`` gains ``line`` at its end."""
    copy = root.parent / f"{root.name}-{relative.replace('/', '-')}"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(root, copy)
    target = copy / relative
    target.write_text(target.read_text() + f"\n{line}\n")
    return copy


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(
    ("relative", "line", "contract"),
    [
        ("domain/units.py", "import socket  # noqa", "The pure core and the contracts do no I/O"),
        ("proto/events.py", "import asyncpg  # noqa", "The pure core and the contracts do no I/O"),
        (
            "services/issuer/metrics.py",
            "import services.projector.metrics  # noqa",
            "No service imports another service",
        ),
        (
            "services/common/__init__.py",
            "import services.ledger.app  # noqa",
            "The platform imports no service",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tree: Path, relative: str, line: str, contract: str
) -> None:
    result = lint(with_line(tree, relative, line))
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
