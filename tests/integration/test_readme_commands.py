"""The README's shell blocks, run as written against a fresh `credit-ledger dev` on free
ports, so that every command it shows works on a fresh clone.

The rule (README, "Tests"): every ```sh block runs, in the README's order, in one bash
script with `set -euo pipefail`, in a scratch folder, after a prelude that sets `BASE`,
`P` and `I` to the stack's three services and `ADMIN` to its admin key. In the blocks,
`http://127.0.0.1:8000`, `:8001` and `:8002` become those services, `.data/` the stack's
data directory, `.venv/bin/` this environment's, and `curl -s` fails on any status of 400
or more (`--fail-with-body`). A block preceded by `<!-- readme-check: skip (why) -->` is
left out: it cannot run unattended (it starts servers, or needs state a tour cannot make).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.dev_command import dev_env, start_dev, stop_dev, wait_for_banner

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(
    r"(<!-- readme-check: skip \((?P<why>[^)]*)\) -->\s*\n)?\s*```sh\n(?P<body>.*?)```", re.S
)
SCRIPT_TIMEOUT_S = 240


def runnable_blocks(readme: str) -> list[str]:
    return [m.group("body") for m in BLOCK.finditer(readme) if m.group("why") is None]


def substituted(block: str, env: dict[str, str], data_dir: Path) -> str:
    ports = {
        "8000": env["CREDIT_LEDGER_HTTP_PORT"],
        "8001": env["CREDIT_LEDGER_PROJECTOR_PORT"],
        "8002": env["CREDIT_LEDGER_ISSUER_PORT"],
    }
    for default, port in ports.items():
        block = block.replace(f"http://127.0.0.1:{default}", f"http://127.0.0.1:{port}")
    block = block.replace(".data/", f"{data_dir}/")
    block = block.replace(".venv/bin/", f"{Path(sys.executable).parent}/")
    return block.replace("curl -s ", "curl -sS --fail-with-body ")


def test_the_rule_leaves_out_only_the_marked_blocks() -> None:
    readme = (ROOT / "README.md").read_text()
    every = len(re.findall(r"^\s*```sh$", readme, re.M))
    found = list(BLOCK.finditer(readme))
    skipped = [m for m in found if m.group("why") is not None]
    assert len(found) == every  # the rule sees every block
    assert len(runnable_blocks(readme)) == every - len(skipped)
    assert len(skipped) < every / 2  # most of the README runs


@pytest.mark.timeout(420)
async def test_every_runnable_readme_block_works_against_a_fresh_dev_stack(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = dev_env(data_dir)
    log = tmp_path / "dev.log"
    dev = start_dev(env, log, "--fresh")
    try:
        await asyncio.to_thread(wait_for_banner, dev, log)
        work = tmp_path / "work"
        (work / "docs").mkdir(parents=True)
        shutil.copy(ROOT / "docs" / "sample-passes.csv", work / "docs")
        prelude = "\n".join(
            [
                "set -euo pipefail",
                f"BASE=http://127.0.0.1:{env['CREDIT_LEDGER_HTTP_PORT']}",
                f"P=http://127.0.0.1:{env['CREDIT_LEDGER_PROJECTOR_PORT']}",
                f"I=http://127.0.0.1:{env['CREDIT_LEDGER_ISSUER_PORT']}",
                f"ADMIN=$(cat {data_dir}/admin.key)",
            ]
        )
        blocks = runnable_blocks((ROOT / "README.md").read_text())
        script = (
            prelude
            + "\n"
            + "\n".join(
                f"echo '--- README block {n}'\n{substituted(block, env, data_dir)}"
                for n, block in enumerate(blocks, start=1)
            )
        )
        (work / "readme.sh").write_text(script)
        process = await asyncio.create_subprocess_exec(
            "bash",
            str(work / "readme.sh"),
            cwd=work,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), SCRIPT_TIMEOUT_S)
        text = output.decode(errors="replace")
        assert process.returncode == 0, text[-4000:]
        assert f"--- README block {len(blocks)}" in text
    finally:
        await asyncio.to_thread(stop_dev, dev, log)
