"""What the load generator sends: AssessmentPassed request bodies and raw ledger.events rows."""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from typing import Any

from proto.partitions import stream_bucket

RAW_TABLE = "bench_raw_events"
RAW_COLUMNS = (
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
)
INSERT_SQL = (
    f"INSERT INTO public.{RAW_TABLE} ({', '.join(RAW_COLUMNS)})"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)
# Positions of one raw connection: base + CONNECTION_SLOT * index + k.
CONNECTION_SLOT = 10**8
LEARNERS_PER_VERSION = 10**6
INSTITUTION = "NSTI-CHENNAI"
CNC_CODES = ("CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-MAINT", "CNC-QC")


class EventFactory:
    """Request bodies of distinct AssessmentPassed events: many learners, CNC codes, NSTI."""

    _ITEM = (
        '{"event_id":"%s","event":{"type":"AssessmentPassed","assessment_id":"%s",'
        '"learner_id":"%012d","institution_id":"' + INSTITUTION + '",'
        '"micro_credential_code":"%s","mode":"training","assessed_on":"%s"}}'
    )

    def __init__(self, tag: str, worker: int, assessed_on: str, learners: int) -> None:
        self._prefix = f"BENCH-{tag}-{worker}-"
        self._assessed_on = assessed_on
        self._learners = learners
        self._random = random.Random(f"{tag}-{worker}")
        self._counter = 0

    def item(self) -> str:
        self._counter += 1
        return self._ITEM % (
            uuid.UUID(bytes=os.urandom(16), version=4),
            f"{self._prefix}{self._counter}",
            200_000_000_000 + self._random.randrange(self._learners),
            self._random.choice(CNC_CODES),
            self._assessed_on,
        )

    def single(self) -> bytes:
        return self.item().encode()

    def batch(self, size: int) -> bytes:
        return ('{"events":[' + ",".join(self.item() for _ in range(size)) + "]}").encode()


def raw_row(
    position: int, samples: list[tuple[str, str]], schema_version: int, recorded_at: dt.datetime
) -> tuple[Any, ...]:
    """One row shaped like ledger.events, with real event JSON and a random 32-byte hash."""
    data, metadata = samples[position % len(samples)]
    stream = f"learner-{100_000_000_000 + position % LEARNERS_PER_VERSION}"
    return (
        position,
        uuid.UUID(bytes=os.urandom(16), version=4),
        stream,
        position // LEARNERS_PER_VERSION + 1,
        "AssessmentPassed",
        schema_version,
        data,
        metadata,
        recorded_at,
        os.urandom(32),
        stream_bucket(stream),
    )
