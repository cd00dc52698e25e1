"""The rows of an institution's CSV files as ledger events: shared by
``credit-ledger import`` and the ledger's upload page (``services/ledger/upload``).

- Kinds (``KINDS``) and their columns: ``passes`` (docs/sample-passes.csv),
  ``credentials``, ``revocations`` (of passes) and ``credential-revocations``. The
  institution is the key's own.
- Each row's event id is a UUIDv5 of (event type, institution, natural key: the
  assessment id or the credential id), so a pass, its credential and its revocation never
  collide, and a re-upload, or an upload resumed after an interruption, writes nothing
  twice: rows the ledger already holds come back as ``duplicate``. A corrected row under a
  natural key already used is a ``conflict`` (``event_id_conflict``): a pass is corrected
  by a revocation and a new pass under a new assessment id.
- A row that is not well formed is ``invalid`` before anything is sent.

The report (row, outcome, position, code, message) has a line per data row, in file order.
Pure: the caller opens the file and writes the report.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import msgspec

from proto import events as ev

REPORT_COLUMNS = ("row", "outcome", "position", "code", "message")
# The namespace of the rows' event ids: uuid5(NAMESPACE, "<type>|<institution>|<natural key>").
NAMESPACE = uuid.UUID("5d3e5a52-8c0b-4f5e-9a1e-0c6f3b2f7a11")


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


def report_rows(outcomes: Sequence[RowOutcome]) -> Iterator[list[str | int]]:
    """The report's lines, its header first (for ``csv.writer``)."""
    yield list(REPORT_COLUMNS)
    for o in outcomes:
        yield [o.row, o.outcome, "" if o.position is None else o.position, o.code, o.message]


def checked(parsed: Iterable[ParsedRow], invalid: Iterable[RowOutcome]) -> list[RowOutcome]:
    """The outcomes of a dry run (``--check``), in file order."""
    return sorted([*(RowOutcome(p.row, "checked") for p in parsed), *invalid], key=lambda o: o.row)


def summary(outcomes: Sequence[RowOutcome]) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.outcome] = counts.get(o.outcome, 0) + 1
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "no rows"


def all_in(outcomes: Sequence[RowOutcome]) -> bool:
    return all(o.outcome in ("recorded", "duplicate", "checked") for o in outcomes)
