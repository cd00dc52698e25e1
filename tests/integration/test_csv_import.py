"""`credit-ledger import passes`: a CSV of results into a real ledger, with a report line
per row; good, bad, repeated and refused rows; an interrupted import resumed; a corrected
row under a used assessment id."""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from pathlib import Path

import pytest

from credit_ledger.csv_import import import_rows
from proto.csv_rows import KINDS, RowOutcome
from proto.envelope import Role
from tests.support.factories import NSTI
from tests.support.ledger import Ledger, served_ledger
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

HEADER = "learner_id,micro_credential_code,assessment_id,assessed_on,mode"
GOOD = [
    "123456789012,CNC-FUND,EXAM-0001,2026-03-01,training",
    "123456789012,CNC-PROG,EXAM-0002,2026-03-15,training",
    "123456789013,CNC-FUND,EXAM-0003,2026-03-01,rpl",
    "123456789014,CNC-FUND,EXAM-0004,2026-03-02,training",
]


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def _by_row(outcomes: list[RowOutcome]) -> dict[int, str]:
    return {o.row: o.outcome for o in outcomes}


async def _import(ledger: Ledger, path: Path, **options: object) -> list[RowOutcome]:
    key = await ledger.key(Role.INSTITUTION, NSTI)
    kind = KINDS[str(options.get("kind", "passes"))]
    return await import_rows(
        path,
        ledger.base_url,
        key,
        check=bool(options.get("check")),
        kind=kind,
        progress=False,
        batch_rows=2,
    )


async def _passes_in_log(ledger: Ledger) -> list[str]:
    page = (await ledger.get("/v1/log", Role.AUDITOR, type="AssessmentPassed", limit=1000)).json()
    return [e["data"]["assessment_id"] for e in page["events"]]


async def test_good_rows_go_in_and_bad_ones_are_reported_without_holding_them_back(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    rows = [
        GOOD[0],
        "123456789012,CNC-PROG,EXAM-0005,2026-02-30,training",  # no such day
        GOOD[1],
        "123456789012,CNC-QC,EXAM-0006,2026-03-01,online",  # no such mode
        "123456789015,NO-SUCH-CODE,EXAM-0007,2026-03-01,training",  # the ledger refuses it
        GOOD[2],
        "123456789013,CNC-PROG,EXAM-0003,2026-03-05,training",  # assessment id repeated
    ]
    async with served_ledger(database_url, nats.url) as ledger:
        checked = await _import(ledger, _csv(tmp_path / "r.csv", rows), check=True)
        assert _by_row(checked) == {
            2: "checked", 3: "invalid", 4: "checked", 5: "invalid",
            6: "checked", 7: "checked", 8: "invalid",
        }  # fmt: skip
        assert await _passes_in_log(ledger) == []  # --check sends nothing

        outcomes = await _import(ledger, tmp_path / "r.csv")
        assert _by_row(outcomes) == {
            2: "recorded", 3: "invalid", 4: "recorded", 5: "invalid",
            6: "refused", 7: "recorded", 8: "invalid",
        }  # fmt: skip
        refused = next(o for o in outcomes if o.outcome == "refused")
        assert refused.code != ""
        assert all(o.position for o in outcomes if o.outcome == "recorded")
        assert sorted(await _passes_in_log(ledger)) == ["EXAM-0001", "EXAM-0002", "EXAM-0003"]

        again = await _import(ledger, tmp_path / "r.csv")
        assert [o.outcome for o in again if o.row in (2, 4, 7)] == ["duplicate"] * 3
        assert sorted(await _passes_in_log(ledger)) == ["EXAM-0001", "EXAM-0002", "EXAM-0003"]


async def test_an_interrupted_import_resumed_writes_nothing_twice(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with served_ledger(database_url, nats.url) as ledger:
        first = await _import(ledger, _csv(tmp_path / "half.csv", GOOD[:2]))
        assert [o.outcome for o in first] == ["recorded", "recorded"]
        whole = await _import(ledger, _csv(tmp_path / "all.csv", GOOD))
        assert [o.outcome for o in whole] == ["duplicate", "duplicate", "recorded", "recorded"]
        assert sorted(await _passes_in_log(ledger)) == [f"EXAM-000{n}" for n in range(1, 5)]


async def test_a_corrected_row_under_a_used_assessment_id_is_a_conflict(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with served_ledger(database_url, nats.url) as ledger:
        await _import(ledger, _csv(tmp_path / "r.csv", GOOD[:1]))
        corrected = GOOD[0].replace("2026-03-01", "2026-03-04")
        outcomes = await _import(ledger, _csv(tmp_path / "c.csv", [corrected, GOOD[3]]))
        assert [(o.outcome, o.code) for o in outcomes] == [
            ("conflict", "event_id_conflict"),
            ("recorded", ""),
        ]


async def test_the_command_writes_its_report_and_says_how_it_went(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    async with served_ledger(database_url, nats.url) as ledger:
        path = _csv(tmp_path / "results.csv", [GOOD[0], "bad,row,,,"])
        env = {
            **os.environ,
            "CREDIT_LEDGER_IMPORT_API_KEY": await ledger.key(Role.INSTITUTION, NSTI),
            "CREDIT_LEDGER_LEDGER_URL": ledger.base_url,
        }
        # A process of its own, awaited: the ledger serves from this test's event loop.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "credit_ledger.cli",
            "import",
            "passes",
            str(path),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
        said = stderr.decode()
        assert process.returncode == 1, said  # one row did not go in
        assert "1 invalid, 1 recorded" in said
        with (tmp_path / "results.report.csv").open() as report:
            lines = list(csv.DictReader(report))
        assert [(r["row"], r["outcome"]) for r in lines] == [("2", "recorded"), ("3", "invalid")]
        assert lines[0]["position"] != ""


async def test_credentials_and_revocations_import_the_same_way_and_never_collide(
    database_url: str, nats: NatsHandle, tmp_path: Path
) -> None:
    """A pass, its certificate and its revocation share the assessment id and get three
    different event ids (the event type is part of each)."""
    async with served_ledger(database_url, nats.url) as ledger:
        await _import(ledger, _csv(tmp_path / "passes.csv", GOOD[:2]))
        credentials = tmp_path / "credentials.csv"
        credentials.write_text(
            "credential_id,assessment_id,learner_id,micro_credential_code,issued_on\n"
            "CERT-0001,EXAM-0001,123456789012,CNC-FUND,2026-03-05\n"
            "CERT-0009,EXAM-0099,123456789012,CNC-FUND,2026-03-05\n"  # no such pass
        )
        issued = await _import(ledger, credentials, kind="credentials")
        assert [o.outcome for o in issued] == ["recorded", "refused"]
        revocations = tmp_path / "revocations.csv"
        revocations.write_text(
            "assessment_id,learner_id,reason\nEXAM-0002,123456789012,marks entered in error\n"
        )
        assert [o.outcome for o in await _import(ledger, revocations, kind="revocations")] == [
            "recorded"
        ]
        again = await _import(ledger, revocations, kind="revocations")
        assert [o.outcome for o in again] == ["duplicate"]
        page = (await ledger.get("/v1/log", Role.AUDITOR, after_position=28, limit=100)).json()
        assert [e["type"] for e in page["events"]] == [
            "AssessmentPassed",
            "AssessmentPassed",
            "CredentialIssued",
            "AssessmentRevoked",
        ]
