"""Schemathesis against the three services' served OpenAPI documents, as an outside client.

``fuzz_stack`` runs ``credit-ledger dev`` in a data directory of its own (its own embedded
PostgreSQL and nats-server: fuzzing with an admin key appends events for good), makes an
institution and an auditor key beside the stack's admin key, and has a learner earn a
qualification, so that a status list and a credential exist to be read. ``fuzz`` runs
``schemathesis run`` once per (service, key), with the checks the contracts promise and
deterministic generation, so a failure is the same on every run (``--seed N`` generates
at random instead, reproducibly from N).

By hand, at a higher example count (``make fuzz`` runs this)::

    python -m tests.support.fuzzing --max-examples 500
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from credit_ledger.embedded.processes import free_port
from tests.support.factories import CNC_LEARNER, CNC_MODULES, append_body, assessment_passed

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
# The demo catalog registers it; its key fuzzes as an institution would.
FUZZ_INSTITUTION = "ATI-MUMBAI"
START_TIMEOUT_S = 120.0
CI_MAX_EXAMPLES = 12


@dataclass(frozen=True)
class FuzzStack:
    services: dict[str, str]  # name -> base URL
    keys: dict[str, str]  # caller -> API key
    folder: Path


@dataclass(frozen=True)
class FuzzRun:
    service: str
    caller: str
    returncode: int
    output: str


@contextlib.contextmanager
def fuzz_stack(folder: Path) -> Iterator[FuzzStack]:
    """``credit-ledger dev --fresh`` on ports of its own, until every service is ready."""
    folder.mkdir(parents=True, exist_ok=True)
    ports = {"ledger": free_port(), "projector": free_port(), "issuer": free_port()}
    base = f"http://127.0.0.1:{ports['ledger']}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "CREDIT_LEDGER_DATA_DIR": str(folder / "data"),
        "CREDIT_LEDGER_HTTP_HOST": "127.0.0.1",
        "CREDIT_LEDGER_HTTP_PORT": str(ports["ledger"]),
        "CREDIT_LEDGER_PROJECTOR_PORT": str(ports["projector"]),
        "CREDIT_LEDGER_ISSUER_PORT": str(ports["issuer"]),
        "CREDIT_LEDGER_PUBLIC_BASE_URL": base,
        "CREDIT_LEDGER_LOG_LEVEL": "warning",
    }
    for name in ("DATABASE_URL", "NATS_URL"):
        env.pop(name, None)
    log = (folder / "dev.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "credit_ledger", "dev", "--fresh"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    services = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        _wait_ready(services, process, folder / "dev.log")
        admin = (folder / "data" / "admin.key").read_text().strip()
        keys = {
            "admin": admin,
            "institution": _new_key(base, admin, "institution", FUZZ_INSTITUTION),
            "auditor": _new_key(base, admin, "auditor", None),
        }
        _earn_a_qualification(services, admin)
        yield FuzzStack(services=services, keys=keys, folder=folder)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def _wait_ready(services: dict[str, str], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = dict(services)
    while waiting:
        if process.poll() is not None:
            raise RuntimeError(f"credit-ledger dev exited: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready: {sorted(waiting)}; {log.read_text()[-3000:]}")
        for name, url in list(waiting.items()):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ready", timeout=2.0).status_code == 200:
                    del waiting[name]
        time.sleep(0.2)


def _new_key(base: str, admin: str, role: str, institution_id: str | None) -> str:
    body: dict[str, str] = {"role": role, "name": f"fuzz {role}"}
    if institution_id is not None:
        body["institution_id"] = institution_id
    answer = httpx.post(
        f"{base}/v1/admin/api-keys", json=body, headers={"Authorization": f"Bearer {admin}"}
    )
    answer.raise_for_status()
    key: str = answer.json()["key"]
    return key


def _earn_a_qualification(services: dict[str, str], admin: str) -> None:
    """The demo learner passes ADV-CNC-MACHINING's five modules; waits for the credential."""
    tokens = {
        institution: _new_key(services["ledger"], admin, "institution", institution)
        for institution in {institution for institution, _, _ in CNC_MODULES}
    }
    for institution, code, day in CNC_MODULES:
        event = assessment_passed(
            learner_id=CNC_LEARNER, institution_id=institution, code=code, assessed_on=day
        )
        answer = httpx.post(
            f"{services['ledger']}/v1/events",
            json=append_body(event),
            headers={"Authorization": f"Bearer {tokens[institution]}"},
        )
        answer.raise_for_status()
    deadline = time.monotonic() + START_TIMEOUT_S
    url = f"{services['issuer']}/v1/learners/{CNC_LEARNER}/credentials"
    while not httpx.get(url, headers={"Authorization": f"Bearer {admin}"}).json()["credentials"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no credential for {CNC_LEARNER}")
        time.sleep(0.2)


def schemathesis_command(base_url: str, key: str, max_examples: int, seed: int | None) -> list[str]:
    """Deterministic generation unless a seed is given (then random, from that seed)."""
    generation = ["--generation-deterministic"] if seed is None else ["--seed", str(seed)]
    return [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base_url}/schema/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(max_examples),
        *generation,
        "--workers",
        "1",
        "--no-color",
    ]


def fuzz(stack: FuzzStack, max_examples: int, seed: int | None = None) -> list[FuzzRun]:
    """One schemathesis run per (service, caller), in that order."""
    runs = []
    for service, url in stack.services.items():
        for caller, key in stack.keys.items():
            done = subprocess.run(
                schemathesis_command(url, key, max_examples, seed),
                capture_output=True,
                text=True,
                cwd=stack.folder,
                check=False,
            )
            runs.append(FuzzRun(service, caller, done.returncode, done.stdout + done.stderr))
    return runs


def report(runs: list[FuzzRun]) -> str:
    """The output of every failed run, or an empty string."""
    return "\n".join(
        f"=== {run.service} as {run.caller}: exit {run.returncode}\n{run.output}"
        for run in runs
        if run.returncode != 0
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random generation from this seed (default: deterministic)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder, fuzz_stack(Path(folder)) as stack:
        runs = fuzz(stack, args.max_examples, args.seed)
    for run in runs:
        verdict = "ok" if run.returncode == 0 else f"FAILED (exit {run.returncode})"
        print(f"{run.service:10} {run.caller:12} {verdict}")
    failures = report(runs)
    if failures:
        print(failures)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
