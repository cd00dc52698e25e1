"""The stored bucket of ledger.events (migration 0007): the SQL functions (the ledger's, and
the projector's of its migration 0003) are the Python one,
appends store it, the migration fills it in for rows already logged, and it is no part of
the hash chain (docs/architecture.md §3)."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_ledger.migrations import Migration, discover, migrate
from proto.partitions import learner_bucket, stream_bucket
from tests.support.factories import NSTI, assessment_passed
from tests.support.ledger import running_ledger
from tests.support.servers import with_database

pytestmark = pytest.mark.integration

BUCKET_MIGRATION = "services.ledger:0007"
# Any text PostgreSQL can hold (no NUL), so the UTF-8 bytes of non-ASCII ids are hashed too.
any_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))
learner_ids = st.from_regex(r"[0-9]{12}", fullmatch=True) | any_text
streams = (
    learner_ids.map(lambda learner: f"learner-{learner}")
    | st.sampled_from(["institution-NSTI-CHENNAI", "microcredential-CNC-FUND", "learner", ""])
    | any_text
)


# One query per example over a database no example changes: the shared fixture is safe.
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(streams, min_size=1, max_size=20))
async def test_the_sql_bucket_is_the_python_bucket(database_url: str, names: list[str]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT ledger.stream_bucket(s) AS bucket FROM unnest($1::text[]) WITH ORDINALITY"
            " AS u(s, n) ORDER BY n",
            names,
        )
        learners = [n.removeprefix("learner-") for n in names if n.startswith("learner-")]
        # The ledger's, and the projector's own (which fills rows stored before partitions).
        direct = {
            schema: await conn.fetch(
                f"SELECT {schema}.learner_bucket(l) AS bucket FROM unnest($1::text[])"
                " WITH ORDINALITY AS u(l, n) ORDER BY n",
                learners,
            )
            for schema in ("ledger", "projector")
        }
    finally:
        await conn.close()
    assert [r["bucket"] for r in rows] == [stream_bucket(n) for n in names]
    for found in direct.values():
        assert [r["bucket"] for r in found] == [learner_bucket(n) for n in learners]


async def test_appends_store_each_streams_bucket(database_url: str) -> None:
    learners = [f"1000000000{n:02d}" for n in range(10)]
    async with running_ledger(database_url) as ledger:
        for learner in learners:
            response = await ledger.append(assessment_passed(learner_id=learner), NSTI)
            assert response.status_code == 201, response.text
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT stream, bucket FROM ledger.events ORDER BY position")
        mismatched = await conn.fetchval(
            "SELECT count(*) FROM ledger.events"
            " WHERE bucket IS DISTINCT FROM ledger.stream_bucket(stream)"
        )
    finally:
        await conn.close()
    assert mismatched == 0
    assert {r["stream"]: r["bucket"] for r in rows if r["stream"].startswith("learner-")} == {
        f"learner-{learner}": learner_bucket(learner) for learner in learners
    }
    assert all(r["bucket"] is None for r in rows if not r["stream"].startswith("learner-"))


async def _log_row(conn: asyncpg.Connection, position: int, stream: str, previous: bytes) -> bytes:
    digest = hashlib.sha256(previous + stream.encode()).digest()
    await conn.execute(
        "INSERT INTO ledger.events (position, event_id, stream, stream_version, type,"
        " schema_version, data, metadata, recorded_at, hash)"
        " VALUES ($1, $2, $3, 1, 'AssessmentPassed', 1, '{}', '{}', now(), $4)",
        position,
        uuid.uuid4(),
        stream,
        digest,
    )
    return digest


async def test_the_migration_fills_in_the_bucket_of_rows_already_logged(
    cluster_url: str,
) -> None:
    """A log from before migration 0007 gets every row's bucket; the hashes are untouched."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(cluster_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(with_database(cluster_url, name))
        try:
            # Every migration but 0007, recorded as applied, as an older ledger left it.
            before = [m for m in discover() if m.key != BUCKET_MIGRATION]
            await migrate_only(conn, before)
            streams = [
                "institution-NSTI-CHENNAI",
                *(f"learner-2000000000{n:02d}" for n in range(5)),
            ]
            previous = bytes(32)
            for position, stream in enumerate(streams, start=1):
                previous = await _log_row(conn, position, stream, previous)
            hashes = await conn.fetch("SELECT position, hash FROM ledger.events ORDER BY position")

            assert await migrate(conn) == [BUCKET_MIGRATION]

            rows = await conn.fetch("SELECT stream, bucket FROM ledger.events ORDER BY position")
            assert [(r["stream"], r["bucket"]) for r in rows] == [
                (s, stream_bucket(s)) for s in streams
            ]
            assert (
                await conn.fetch("SELECT position, hash FROM ledger.events ORDER BY position")
                == hashes
            )
            # A plain column now: the ledger inserts what it computed.
            generated = await conn.fetchval(
                "SELECT attgenerated::text FROM pg_attribute"
                " WHERE attrelid = 'ledger.events'::regclass AND attname = 'bucket'"
            )
            assert generated == ""
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def migrate_only(conn: asyncpg.Connection, migrations: list[Migration]) -> None:
    """Apply ``migrations`` and record them as ``migrate`` does."""
    await conn.execute(
        "CREATE TABLE public.credit_ledger_migrations (key text PRIMARY KEY,"
        " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for migration in migrations:
        await conn.execute(migration.sql)
        await conn.execute(
            "INSERT INTO public.credit_ledger_migrations (key, checksum) VALUES ($1, $2)",
            migration.key,
            migration.checksum,
        )
