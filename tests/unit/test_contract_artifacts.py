"""The committed contract artefacts (proto/schemas, proto/asyncapi.json) match the Structs."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator

from proto import events as ev
from proto.cloudevents import address_pattern
from proto.envelope import Actor, EventMetadata, RecordedEvent, Role
from proto.generate import (
    ASYNCAPI_PATH,
    SCHEMA_DIR,
    asyncapi_document,
    render_asyncapi,
    render_json_schemas,
    schema_file_name,
    stale_files,
)
from proto.issuer import DEAD_LETTER_HEADERS, dead_letter_subject
from proto.partitions import stream_bucket
from proto.subjects import ce_type, subject_for
from services.issuer.nats_setup import STREAM_OF_CONSUMER

ROOT = Path(__file__).resolve().parents[2]

_LEARNER = "123456789012"
_INSTITUTION = "NSTI-CHENNAI"
_PASS = ev.PassRef(institution_id=_INSTITUTION, assessment_id="ASMT-2026-000123")

# One realistic instance of every event type, as an institution, the admin or the issuer
# would post it.
EXAMPLES: dict[type[ev.Event], ev.LedgerEvent] = {
    ev.InstitutionRegistered: ev.InstitutionRegistered(
        institution_id=_INSTITUTION,
        name="National Skill Training Institute, Chennai",
        kind=ev.InstitutionKind.TRAINING_PROVIDER,
        accredited_sectors=["CAPITAL-GOODS", "AUTOMOTIVE"],
        max_level="5",
    ),
    ev.AccreditationGranted: ev.AccreditationGranted(
        institution_id=_INSTITUTION,
        scope=[ev.SectorScope(sector="TOURISM-HOSPITALITY", max_level="4")],
        effective_from=dt.date(2026, 4, 1),
        effective_until=dt.date(2031, 4, 1),
        note="NCVET order 2026/17",
    ),
    ev.AccreditationExtended: ev.AccreditationExtended(
        institution_id=_INSTITUTION,
        scope=[ev.SectorScope(sector="TOURISM-HOSPITALITY", max_level="4.5")],
        effective_from=dt.date(2027, 4, 1),
    ),
    ev.AccreditationWithdrawn: ev.AccreditationWithdrawn(
        institution_id=_INSTITUTION,
        sectors=["TOURISM-HOSPITALITY"],
        effective_from=dt.date(2028, 1, 1),
        reason="inspection found no qualified assessors",
    ),
    ev.MicroCredentialDefined: ev.MicroCredentialDefined(
        code="CNC-FUND-01",
        version=1,
        title="CNC machining fundamentals",
        sector="CAPITAL-GOODS",
        level="4.5",
        notional_hours=60,
        learning_outcomes=["Set up a CNC lathe", "Read a part drawing"],
    ),
    ev.QualificationDefined: ev.QualificationDefined(
        code="CNC-OPERATOR",
        version=2,
        title="CNC operator",
        sector="CAPITAL-GOODS",
        level="4",
        required=["CNC-FUND-01"],
        electives=[ev.ElectiveGroup(codes=["CNC-MILL-01", "CNC-TURN-01"], min_count=1)],
        min_credits=4,
        min_component_level="3",
        max_rpl_share="0.5",
    ),
    ev.AssessmentPassed: ev.AssessmentPassed(
        assessment_id="ASMT-2026-000123",
        learner_id=_LEARNER,
        institution_id=_INSTITUTION,
        micro_credential_code="CNC-FUND-01",
        mode=ev.AssessmentMode.RPL,
        assessed_on=dt.date(2026, 3, 14),
        catalog_snapshot=ev.CatalogSnapshot(
            version=1,
            level="4.5",
            notional_hours=60,
            sector="CAPITAL-GOODS",
            validity_years=7,
        ),
    ),
    ev.CredentialIssued: ev.CredentialIssued(
        credential_id="CERT-2026-000123",
        assessment_id="ASMT-2026-000123",
        learner_id=_LEARNER,
        institution_id=_INSTITUTION,
        micro_credential_code="CNC-FUND-01",
        issued_on=dt.date(2026, 3, 20),
    ),
    ev.AssessmentRevoked: ev.AssessmentRevoked(
        assessment_id="ASMT-2026-000123",
        learner_id=_LEARNER,
        institution_id=_INSTITUTION,
        reason="Assessor found to have falsified results",
    ),
    ev.CredentialRevoked: ev.CredentialRevoked(
        credential_id="CERT-2026-000123",
        learner_id=_LEARNER,
        institution_id=_INSTITUTION,
        reason="Issued against a revoked assessment",
    ),
    ev.CreditsRedeemed: ev.CreditsRedeemed(
        redemption_id="RDM-2026-0042",
        learner_id=_LEARNER,
        institution_id="IIT-MADRAS",
        passes=[_PASS],
        programme="B.Voc. Manufacturing Technology",
    ),
    ev.QualificationAwarded: ev.QualificationAwarded(
        award_id="0b5e2a4c-6f0e-5d7a-9c1b-2f3e4d5a6b7c",
        learner_id=_LEARNER,
        qualification_code="CNC-OPERATOR",
        qualification_version=2,
        award_generation=0,
        components=[
            ev.AwardComponent(
                micro_credential_code="CNC-FUND-01",
                pass_ref=_PASS,
                notional_hours=60,
                level="4.5",
                mode=ev.AssessmentMode.RPL,
            )
        ],
        counted_hours=60,
        credit_points="9",
        decided_at_position=4711,
    ),
    ev.QualificationRevoked: ev.QualificationRevoked(
        award_id="0b5e2a4c-6f0e-5d7a-9c1b-2f3e4d5a6b7c",
        learner_id=_LEARNER,
        qualification_code="CNC-OPERATOR",
        reason="A required pass was revoked",
        reason_code=ev.RevocationReasonCode.FRAUD,
        note="attendance records were forged",
    ),
    ev.AwardBlockLifted: ev.AwardBlockLifted(
        learner_id=_LEARNER,
        qualification_code="CNC-OPERATOR",
        note="cleared on appeal, order 2027/3",
    ),
    ev.ConsentGranted: ev.ConsentGranted(
        grant_id="3b9e8f4c-1d2a-4c5b-9e8f-0a1b2c3d4e5f",
        learner_id=_LEARNER,
        grantee_institution_id="ACME-EMPLOYER",
        valid_until=dt.date(2027, 6, 30),
    ),
    ev.ConsentWithdrawn: ev.ConsentWithdrawn(
        grant_id="3b9e8f4c-1d2a-4c5b-9e8f-0a1b2c3d4e5f", learner_id=_LEARNER
    ),
}

# (event type, field, bad value): each breaks one constraint of the Struct.
BAD_FIELDS = [
    pytest.param(ev.MicroCredentialDefined, "level", "9", id="level-9"),
    pytest.param(ev.MicroCredentialDefined, "level", "4.25", id="level-quarter-step"),
    pytest.param(ev.MicroCredentialDefined, "notional_hours", 0, id="zero-hours"),
    pytest.param(ev.AssessmentPassed, "learner_id", "1234.56789012", id="learner-id-with-dot"),
    pytest.param(ev.AssessmentPassed, "mode", "exam", id="unknown-mode"),
    pytest.param(ev.QualificationDefined, "max_rpl_share", "1.5", id="share-above-1"),
    pytest.param(ev.QualificationAwarded, "credit_points", 9.5, id="credit-points-float"),
    pytest.param(ev.AssessmentRevoked, "type", "AssessmentPassed", id="wrong-tag"),
]


def _as_json(value: msgspec.Struct) -> Any:
    """What a consumer in any language receives: the msgspec wire encoding, parsed."""
    return json.loads(msgspec.json.encode(value))


def _schema(name: str) -> dict[str, Any]:
    path = ROOT / SCHEMA_DIR / schema_file_name(name, ev.SCHEMA_VERSION)
    document: dict[str, Any] = json.loads(path.read_bytes())
    return document


def _validator(name: str) -> Draft202012Validator:
    schema = _schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _recorded(event: ev.LedgerEvent) -> RecordedEvent:
    return RecordedEvent(
        position=4711,
        event_id=str(uuid.UUID("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f")),
        stream=ev.stream_of(event),
        stream_version=3,
        type=type(event).__name__,
        schema_version=ev.SCHEMA_VERSION,
        data=event,
        metadata=EventMetadata(
            actor=Actor(role=Role.INSTITUTION, key_id="key-1", institution_id=_INSTITUTION),
            request_id="req-8d3f",
        ),
        recorded_at=dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC),
        hash="ab" * 32,
    )


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: Any, pointer: str) -> Any:
    node = document
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


# --- staleness --------------------------------------------------------------------------


def test_committed_artefacts_are_up_to_date() -> None:
    stale = stale_files(ROOT)
    assert not stale, f"stale contract files {stale}: run `credit-ledger contracts generate`"


def test_generation_is_deterministic() -> None:
    assert render_json_schemas() == render_json_schemas()
    assert render_asyncapi() == render_asyncapi()


def test_every_event_type_has_a_schema_file() -> None:
    for event_type in ev.EVENT_TYPES:
        path = ROOT / SCHEMA_DIR / schema_file_name(event_type.__name__, ev.SCHEMA_VERSION)
        assert path.is_file(), path
    assert (ROOT / SCHEMA_DIR / "RecordedEvent.v1.schema.json").is_file()


def test_examples_cover_every_event_type() -> None:
    assert set(EXAMPLES) == set(ev.EVENT_TYPES)


# --- JSON Schemas -----------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ev.EVENT_TYPES, ids=lambda t: t.__name__)
def test_schema_accepts_an_encoded_event(event_type: type[ev.Event]) -> None:
    name = event_type.__name__
    schema = _schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:credit-ledger:proto:{name}:v1"
    assert schema["title"] == name
    _validator(name).validate(_as_json(EXAMPLES[event_type]))


@pytest.mark.parametrize(("event_type", "field", "value"), BAD_FIELDS)
def test_schema_and_decoder_reject_a_bad_event(
    event_type: type[ev.Event], field: str, value: object
) -> None:
    bad = _as_json(EXAMPLES[event_type]) | {field: value}
    errors = list(_validator(event_type.__name__).iter_errors(bad))
    assert errors, f"schema accepted {field}={value!r}"
    # The schema must not be looser or stricter than what the services decode.
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(json.dumps(bad), type=event_type)


def test_schema_rejects_a_missing_required_field() -> None:
    bad = _as_json(EXAMPLES[ev.AssessmentPassed])
    del bad["learner_id"]
    assert not _validator("AssessmentPassed").is_valid(bad)


def test_recorded_event_schema_accepts_every_event_and_rejects_a_bad_hash() -> None:
    validator = _validator("RecordedEvent")
    for event in EXAMPLES.values():
        validator.validate(_as_json(_recorded(event)))
    bad = _as_json(_recorded(EXAMPLES[ev.AssessmentPassed])) | {"hash": "AB" * 32}
    assert not validator.is_valid(bad)


# --- AsyncAPI ---------------------------------------------------------------------------


def test_asyncapi_has_a_channel_per_event_type() -> None:
    document = json.loads((ROOT / ASYNCAPI_PATH).read_bytes())
    assert document["asyncapi"] == "3.0.0"
    server = document["servers"]["nats"]
    assert (server["host"], server["protocol"]) == ("localhost:4222", "nats")
    for event_type in ev.EVENT_TYPES:
        name = event_type.__name__
        channel = document["channels"][name]
        if event_type in ev.CATALOG_EVENTS:
            assert channel["address"] == f"ledger.v1.{{category}}.{{id}}.{name}"
            assert set(channel["parameters"]) == {"category", "id"}
        else:  # a learner's event: the learner's bucket first
            assert channel["address"] == f"ledger.v1.learner.{{bucket}}.{{id}}.{name}"
            assert set(channel["parameters"]) == {"bucket", "id"}
        assert document["operations"][f"publish{name}"]["action"] == "send"


def test_asyncapi_refs_resolve() -> None:
    document = asyncapi_document()
    for ref in _refs(document):
        assert ref.startswith("#/"), ref
        _resolve(document, ref)


@pytest.mark.parametrize("event_type", ev.EVENT_TYPES, ids=lambda t: t.__name__)
def test_subject_of_each_event_matches_its_channel(event_type: type[ev.Event]) -> None:
    """What the relay publishes (proto.subjects) is what the AsyncAPI document promises."""
    document = asyncapi_document()
    name = event_type.__name__
    subject = subject_for(ev.stream_of(EXAMPLES[event_type]), name)
    categories = document["components"]["parameters"]["category"]["enum"]
    address = document["channels"][name]["address"]
    match = address_pattern(address).fullmatch(subject)
    assert match, (subject, address)
    if "category" in match.groupdict():
        assert match["category"] in categories
    else:
        assert int(match["bucket"]) == stream_bucket(ev.stream_of(EXAMPLES[event_type]))
    header_type = document["components"]["messages"][name]["headers"]["allOf"][1]
    assert header_type["properties"]["ce-type"]["const"] == ce_type(name)


# --- naming -----------------------------------------------------------------------------


def test_subject_for_splits_the_stream_on_its_first_dash() -> None:
    assert (
        subject_for("learner-123456789012", "AssessmentPassed")
        == "ledger.v1.learner.167.123456789012.AssessmentPassed"
    )
    assert (
        subject_for("microcredential-CNC-FUND-01", "MicroCredentialDefined")
        == "ledger.v1.microcredential.CNC-FUND-01.MicroCredentialDefined"
    )


@pytest.mark.parametrize(
    ("stream", "event_type"),
    [
        ("catalog", "MicroCredentialDefined"),
        ("course-X", "AssessmentPassed"),
        ("learner-1.2", "AssessmentPassed"),
        ("learner-", "AssessmentPassed"),
        ("learner-123456789012", "NoSuchEvent"),
    ],
)
def test_subject_for_refuses_what_would_break_subject_filters(stream: str, event_type: str) -> None:
    with pytest.raises(ValueError, match=r"stream|event type"):
        subject_for(stream, event_type)


def test_ce_type_is_reverse_dns_and_versioned() -> None:
    assert ce_type("AssessmentPassed") == "org.credit-ledger.ledger.AssessmentPassed.v1"


@pytest.mark.parametrize("consumer", sorted(STREAM_OF_CONSUMER))
def test_the_dead_letter_subject_is_a_documented_channel(consumer: str) -> None:
    """Where the issuer puts a message it gave up on (proto.issuer) is in AsyncAPI, with
    the headers it sets."""
    document = asyncapi_document()
    channel = document["channels"]["DeadLetter"]
    match = address_pattern(channel["address"]).fullmatch(dead_letter_subject(consumer))
    assert match is not None
    assert match["consumer"] == consumer
    assert consumer in document["components"]["parameters"]["consumer"]["examples"]
    headers = document["components"]["messages"]["DeadLetter"]["headers"]
    assert set(DEAD_LETTER_HEADERS) <= set(headers["required"])
    assert document["operations"]["publishDeadLetter"]["action"] == "send"
