"""What surrounds an event: who posted it, where it sits in the log, what an append returns."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

import msgspec

from proto.events import LedgerEvent
from proto.types import InstitutionId, LearnerId


class Role(StrEnum):
    """The roles of docs/architecture.md §6."""

    INSTITUTION = "institution"
    ISSUER = "issuer"
    ADMIN = "admin"
    AUDITOR = "auditor"
    # A learner, signed in by a passbook link (docs/architecture.md §6): reads their own
    # record and records their own consent, nothing else.
    LEARNER = "learner"


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    role: Role
    key_id: str
    institution_id: InstitutionId | None = None
    # A learner actor's own learner id. Left out of the JSON of every other actor (UNSET,
    # not null), so the metadata of events recorded before learners existed encodes, and
    # hashes, exactly as it was recorded.
    learner_id: LearnerId | msgspec.UnsetType = msgspec.UNSET


class EventMetadata(msgspec.Struct, frozen=True, kw_only=True):
    """Recorded with every event: who posted it and the ids that tie requests together."""

    actor: Actor
    request_id: str
    correlation_id: str | None = None
    causation_id: str | None = None


Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
Position = Annotated[int, msgspec.Meta(ge=1)]


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the log, as every read API returns it."""

    position: Position
    event_id: str
    stream: str
    stream_version: Annotated[int, msgspec.Meta(ge=1)]
    type: str
    schema_version: int
    data: LedgerEvent
    metadata: EventMetadata
    recorded_at: Annotated[dt.datetime, msgspec.Meta(tz=True)]
    hash: Sha256Hex


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one accepted append; a retry with the same event id returns it again."""

    event_id: str
    position: Position
    stream: str
    stream_version: int
    recorded_at: dt.datetime
    hash: Sha256Hex
    duplicate: bool = False


class LedgerHead(msgspec.Struct, frozen=True, kw_only=True):
    position: Annotated[int, msgspec.Meta(ge=0)]
    hash: Sha256Hex


class LogPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of GET /v1/log: resume with ``next_after_position``."""

    events: list[RecordedEvent]
    next_after_position: int
    head_position: int


class StreamPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of GET /v1/streams/{stream}: resume with ``next_after_version``."""

    stream: str
    events: list[RecordedEvent]
    next_after_version: int
