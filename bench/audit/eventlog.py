"""The audit benchmark's log: a year of institutions' events, COPYed with a valid chain."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import msgspec

from proto.canonical import GENESIS_HASH, canonical_bytes
from proto.partitions import stream_bucket

COPY_BATCH = 20_000
BUILD_BATCH = 20_000
LEARNERS = 100_000
PROOF_SAMPLES = 2000
HTTP_PROOF_SAMPLES = 500
SIGN_SAMPLES = 200
TARGET_EVENTS_PER_S = 100_000
TARGET_RAW_RATIO = 0.5
TARGET_PROOF_P99_MS = 5.0
INSTITUTIONS = [
    ("NSTI-CHENNAI", "CAPITAL-GOODS"),
    ("IHM-GOA", "TOURISM-HOSPITALITY"),
    ("NIELIT-DELHI", "IT-ITES"),
]
CODES = {
    "CAPITAL-GOODS": [("CNC-FUND", "4", 60), ("CNC-PROG", "4", 90), ("CNC-ADV", "4.5", 90)],
    "TOURISM-HOSPITALITY": [("HOSP-FUND", "3", 60), ("HOSP-FNB", "4", 60), ("CUL-BASIC", "3", 90)],
    "IT-ITES": [("AI-INTRO", "5", 60), ("AI-PYML", "5", 90), ("AI-DL", "6", 120)],
}
COLUMNS = [
    "position",
    "event_id",
    "stream",
    "stream_version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
    "hash",
    "bucket",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the log ------------------------------------------------------------------------------


class EventMaker:
    """Realistic events: what a year of institutions posting through the ledger looks like."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.versions: dict[str, int] = {}
        self.passes: dict[str, list[tuple[str, str, str]]] = {}
        self.moment = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
        self.group_left = 0

    def _recorded_at(self) -> dt.datetime:
        # Group commit: runs of events share one recorded_at, which never runs backwards.
        if self.group_left == 0:
            self.moment += dt.timedelta(microseconds=self.rng.randrange(1, 40_000))
            self.group_left = self.rng.choice([1, 1, 1, 2, 5, 20, 200])
        self.group_left -= 1
        return self.moment

    def _metadata(self, institution: str, role: str = "institution") -> dict[str, Any]:
        return {
            "actor": {
                "role": role,
                "key_id": hashlib.sha256(institution.encode()).hexdigest()[:16],
                "institution_id": institution,
            },
            "request_id": uuid.UUID(int=self.rng.getrandbits(128)).hex,
            "correlation_id": None,
            "causation_id": None,
        }

    def next(self) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
        """(stream, type, data, metadata) of the next event."""
        learner = f"{self.rng.randrange(LEARNERS) + 100_000_000_000:012d}"
        held = self.passes.get(learner, [])
        roll = self.rng.random()
        if held and roll < 0.25:
            institution, assessment_id, code = self.rng.choice(held)
            data: dict[str, Any] = {
                "type": "CredentialIssued",
                "credential_id": f"CERT-{self.rng.getrandbits(48):012x}",
                "assessment_id": assessment_id,
                "learner_id": learner,
                "institution_id": institution,
                "micro_credential_code": code,
                "issued_on": "2026-03-02",
            }
        elif held and roll < 0.30:
            institution, assessment_id, _ = held.pop(self.rng.randrange(len(held)))
            data = {
                "type": "AssessmentRevoked",
                "assessment_id": assessment_id,
                "learner_id": learner,
                "institution_id": institution,
                "reason": 'malpractice found on review of the "practical" component — re-assessment due',
            }
        elif held and roll < 0.33:
            institution, assessment_id, _ = held.pop(self.rng.randrange(len(held)))
            data = {
                "type": "CreditsRedeemed",
                "redemption_id": f"RDM-{self.rng.getrandbits(32):08x}",
                "learner_id": learner,
                "institution_id": "ATI-MUMBAI",
                "passes": [{"institution_id": institution, "assessment_id": assessment_id}],
                "programme": "B.Voc. Manufacturing Technology (NSQF 5)",
            }
        else:
            institution, sector = self.rng.choice(INSTITUTIONS)
            code, level, hours = self.rng.choice(CODES[sector])
            assessment_id = f"ASMT-{self.rng.getrandbits(48):012x}"
            data = {
                "type": "AssessmentPassed",
                "assessment_id": assessment_id,
                "learner_id": learner,
                "institution_id": institution,
                "micro_credential_code": code,
                "mode": self.rng.choice(["training", "training", "rpl"]),
                "assessed_on": f"2025-{self.rng.randrange(1, 13):02d}-{self.rng.randrange(1, 29):02d}",
                "catalog_snapshot": {
                    "version": 1,
                    "level": level,
                    "notional_hours": hours,
                    "sector": sector,
                    "validity_years": 7,
                },
            }
            self.passes.setdefault(learner, []).append((institution, assessment_id, code))
        return f"learner-{learner}", data["type"], data, self._metadata(data["institution_id"])

    def rows(self, count: int, canonicals: list[bytes]) -> Iterator[list[tuple[Any, ...]]]:
        """COPY batches of ledger.events rows with a valid chain; keeps each canonical form."""
        previous = GENESIS_HASH
        batch: list[tuple[Any, ...]] = []
        for position in range(1, count + 1):
            stream, type_name, data, metadata = self.next()
            version = self.versions.get(stream, 0) + 1
            self.versions[stream] = version
            event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            recorded_at = self._recorded_at()
            canonical = canonical_bytes(
                position=position,
                event_id=event_id,
                stream=stream,
                stream_version=version,
                type=type_name,
                schema_version=1,
                data=data,
                metadata=metadata,
                recorded_at=recorded_at,
            )
            canonicals.append(canonical)
            previous = hashlib.sha256(previous + canonical).digest()
            batch.append(
                (
                    position,
                    uuid.UUID(event_id),
                    stream,
                    version,
                    type_name,
                    1,
                    msgspec.json.encode(data).decode(),
                    msgspec.json.encode(metadata).decode(),
                    recorded_at,
                    previous,
                    stream_bucket(stream),
                )
            )
            if len(batch) == COPY_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


async def load_log(url: str, count: int) -> list[bytes]:
    canonicals: list[bytes] = []
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        for batch in EventMaker(seed=6962).rows(count, canonicals):
            await conn.copy_records_to_table(
                "events", schema_name="ledger", columns=COLUMNS, records=batch
            )
        await conn.execute("VACUUM ANALYZE ledger.events")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('ledger.events'))")
        log(f"loaded {count:,} events ({size}) in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()
    return canonicals


# --- chain verification ------------------------------------------------------------------
