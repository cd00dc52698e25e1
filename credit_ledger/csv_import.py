"""``credit-ledger import KIND FILE.csv``: an institution's records, a row per event, into
the ledger through its public batch API, with a report of every row.

- Kinds (``KINDS``) and their columns: ``passes`` (docs/sample-passes.csv),
  ``credentials``, ``revocations`` (of passes) and ``credential-revocations``. The
  institution is the key's own.
- Each row's event id is a UUIDv5 of (event type, institution, natural key: the
  assessment id or the credential id), so a pass, its credential and its revocation never
  collide, and a re-upload, or an upload resumed after an interruption, writes nothing
  twice: rows the ledger already holds come back as ``duplicate``. A corrected row under a
  natural key already used is a ``conflict`` (``event_id_conflict``): a pass is corrected
  by a revocation and a new pass under a new assessment id.
- A row that is not well formed is ``invalid`` before anything is sent. The batch API is
  atomic, so when it refuses some rows of a batch, those are reported ``refused`` and the
  rest is sent again without them: one bad row never holds back the good ones.
- ``--check`` reads and validates the file and sends nothing.

The report (CSV: row, outcome, position, code, message) has a line per data row, in file
order; the exit status is 0 when every row is recorded or a duplicate, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import csv
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx
import msgspec
from tqdm import tqdm

from proto import events as ev

REPORT_COLUMNS = ("row", "outcome", "position", "code", "message")
# The namespace of the rows' event ids: uuid5(NAMESPACE, "<type>|<institution>|<natural key>").
NAMESPACE = uuid.UUID("5d3e5a52-8c0b-4f5e-9a1e-0c6f3b2f7a11")
BATCH_ROWS = 500
# Batch requests in flight at once: the ledger group-commits concurrent requests together.
CONCURRENT_BATCHES = 4
BUSY_RETRIES = 20


def event_id_of(event_type: str, institution_id: str, natural_key: str) -> uuid.UUID:
    """The deterministic id of a row's event: the same row always gets the same id."""
    return uuid.uuid5(NAMESPACE, f"{event_type}|{institution_id}|{natural_key}")


@dataclass(frozen=True)
class RowKind:
    """One kind of row: the event it becomes, its columns, and the column that names it."""

    event_type: type[ev.Event]
    columns: tuple[str, ...]
    natural_key: str

    @property
    def type_name(self) -> str:
        return self.event_type.__name__


KINDS = {
    "passes": RowKind(
        ev.AssessmentPassed,
        ("learner_id", "micro_credential_code", "assessment_id", "assessed_on", "mode"),
        "assessment_id",
    ),
    "credentials": RowKind(
        ev.CredentialIssued,
        ("credential_id", "assessment_id", "learner_id", "micro_credential_code", "issued_on"),
        "credential_id",
    ),
    "revocations": RowKind(
        ev.AssessmentRevoked, ("assessment_id", "learner_id", "reason"), "assessment_id"
    ),
    "credential-revocations": RowKind(
        ev.CredentialRevoked, ("credential_id", "learner_id", "reason"), "credential_id"
    ),
}


@dataclass
class RowOutcome:
    row: int  # the line's number in the file (the header is line 1)
    outcome: str  # recorded, duplicate, conflict, refused, invalid, checked
    position: int | None = None
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class ParsedRow:
    row: int
    event_id: uuid.UUID
    event: ev.Event


def read_rows(
    lines: Iterator[str], institution_id: str, kind: RowKind = KINDS["passes"]
) -> tuple[list[ParsedRow], list[RowOutcome]]:
    """The well-formed rows as events, and an ``invalid`` outcome for each other row."""
    reader = csv.DictReader(lines)
    missing = [c for c in kind.columns if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(
            f"the file lacks the column(s) {', '.join(missing)}; it needs {kind.columns}"
        )
    parsed: list[ParsedRow] = []
    invalid: list[RowOutcome] = []
    seen: dict[str, int] = {}
    for line_number, record in enumerate(reader, start=2):
        fields = {name: (record.get(name) or "").strip() for name in kind.columns}
        try:
            event = msgspec.convert(
                {"type": kind.type_name, "institution_id": institution_id, **fields},
                kind.event_type,
                strict=False,
            )
        except msgspec.ValidationError as error:
            invalid.append(
                RowOutcome(line_number, "invalid", code="invalid_row", message=str(error))
            )
            continue
        key = fields[kind.natural_key]
        earlier = seen.get(key)
        if earlier is not None:
            invalid.append(
                RowOutcome(
                    line_number,
                    "invalid",
                    code=f"repeated_{kind.natural_key}",
                    message=f"{kind.natural_key} {key} is on row {earlier} too",
                )
            )
            continue
        seen[key] = line_number
        parsed.append(
            ParsedRow(line_number, event_id_of(kind.type_name, institution_id, key), event)
        )
    return parsed, invalid


class Importer:
    """Sends parsed rows in batches to ``POST /v1/events/batch`` with the institution's key."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        batch_rows: int = BATCH_ROWS,
        concurrency: int = CONCURRENT_BATCHES,
    ) -> None:
        self._client = client
        self._batch_rows = batch_rows
        self._slots = asyncio.Semaphore(concurrency)

    async def send(self, rows: Sequence[ParsedRow], bar: tqdm[Any] | None) -> list[RowOutcome]:
        """Every row's outcome, ``CONCURRENT_BATCHES`` batches in flight (the event ids
        make the order in which batches land irrelevant to what a re-run writes)."""

        async def one(batch: list[ParsedRow]) -> list[RowOutcome]:
            async with self._slots:
                outcomes = await self._send_batch(batch)
            if bar is not None:
                bar.update(len(batch))
            return outcomes

        batches = [
            list(rows[start : start + self._batch_rows])
            for start in range(0, len(rows), self._batch_rows)
        ]
        done = await asyncio.gather(*(one(batch) for batch in batches))
        return [outcome for outcomes in done for outcome in outcomes]

    async def _send_batch(self, batch: list[ParsedRow]) -> list[RowOutcome]:
        """The batch's outcomes: refused rows dropped and the rest sent again until the
        ledger takes what is left."""
        outcomes: list[RowOutcome] = []
        while batch:
            response = await self._post(batch)
            if response.status_code == 201:
                for parsed, result in zip(batch, response.json(), strict=True):
                    outcome = "duplicate" if result["duplicate"] else "recorded"
                    outcomes.append(RowOutcome(parsed.row, outcome, result["position"]))
                return outcomes
            problem = _problem(response)
            items = problem.get("errors") or []
            if not items:  # the whole request was refused (a bad key, say): every row says so
                code, detail = (
                    problem.get("code", f"http_{response.status_code}"),
                    problem.get("detail", response.text[:200]),
                )
                outcomes += [RowOutcome(p.row, "refused", code=code, message=detail) for p in batch]
                return outcomes
            refused = {int(item["index"]): item for item in items}
            for index, item in refused.items():
                kind = "conflict" if item.get("code") == "event_id_conflict" else "refused"
                outcomes.append(
                    RowOutcome(batch[index].row, kind, code=item["code"], message=item["detail"])
                )
            batch = [p for index, p in enumerate(batch) if index not in refused]
        return outcomes

    async def _post(self, batch: list[ParsedRow]) -> httpx.Response:
        body = {
            "events": [
                {"event_id": str(p.event_id), "event": msgspec.to_builtins(p.event)} for p in batch
            ]
        }
        for _ in range(BUSY_RETRIES):
            response = await self._client.post("/v1/events/batch", json=body)
            if response.status_code not in (429, 503):
                return response
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        return response


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def import_rows(
    path: Path,
    base_url: str,
    api_key: str,
    *,
    check: bool,
    kind: RowKind = KINDS["passes"],
    progress: bool = True,
    batch_rows: int = BATCH_ROWS,
) -> list[RowOutcome]:
    """Every data row's outcome, in file order."""
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        who = await client.get("/v1/whoami")
        if who.status_code != 200:
            raise PermissionError(f"the ledger refused the key: {who.status_code} {who.text[:200]}")
        actor = who.json()
        if actor.get("role") != "institution" or not actor.get("institution_id"):
            raise PermissionError("importing needs an institution key (the rows are its own)")
        with path.open(newline="", encoding="utf-8-sig") as file:
            parsed, invalid = read_rows(iter(file), actor["institution_id"], kind)
        if check:
            checked = [RowOutcome(p.row, "checked") for p in parsed]
            return sorted(checked + invalid, key=lambda o: o.row)
        with tqdm(total=len(parsed), unit="row", desc="import", disable=not progress) as bar:
            sent = await Importer(client, batch_rows).send(parsed, bar)
    return sorted(sent + invalid, key=lambda o: o.row)


def write_report(outcomes: Sequence[RowOutcome], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for o in outcomes:
        writer.writerow(
            [o.row, o.outcome, "" if o.position is None else o.position, o.code, o.message]
        )


def summary(outcomes: Sequence[RowOutcome]) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.outcome] = counts.get(o.outcome, 0) + 1
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "no rows"


def all_in(outcomes: Sequence[RowOutcome]) -> bool:
    return all(o.outcome in ("recorded", "duplicate", "checked") for o in outcomes)
