"""Generates the language-neutral contract artefacts from the msgspec Structs (docs/architecture.md §2).

- ``proto/schemas/<Name>.v1.schema.json``: one self-contained JSON Schema (draft 2020-12)
  per ledger event, and one for ``RecordedEvent``, the log row every read API returns;
- ``proto/asyncapi.json``: an AsyncAPI 3.0.0 document of the NATS side (docs/architecture.md §4).

The files are committed so that services in other languages need no Python. Output is
byte-identical on every run, so ``check`` (and ``tests/unit/test_contract_artifacts.py``)
can tell a stale file by comparing bytes. Usage::

    python -m proto.generate generate   # rewrite the files, then commit them
    python -m proto.generate check      # exit 1 and name the files that are stale
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from proto.cloudevents import (
    DERIVED_SUBJECTS,
    DERIVED_VERSION,
    HEADER_NAMES,
    SPEC_VERSION,
    derived_ce_type,
)
from proto.derived import CREDIT_STREAM, CREDIT_SUBJECTS, DERIVED_TYPES
from proto.envelope import RecordedEvent
from proto.events import CATALOG_EVENTS, EVENT_TYPES, SCHEMA_VERSION
from proto.issuer import (
    DEAD_LETTER_ADDRESS,
    DEAD_LETTER_HEADERS,
    ISSUER_DEPRECATED,
    ISSUER_MESSAGE_TYPES,
    ISSUER_MESSAGE_VERSIONS,
    ISSUER_STREAM,
    ISSUER_SUBJECTS,
)
from proto.partitions import BUCKETS
from proto.subjects import (
    LEARNER_CATEGORY,
    LEDGER_STREAM,
    LEDGER_SUBJECTS,
    STREAM_CATEGORIES,
    SUBJECT_PREFIX,
    ce_type,
)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_VERSION = "3.0.0"
# The envelope and the derived messages have version lines of their own; all are at 1.
ENVELOPE_VERSION = 1

# Every event that is not the catalog's or an institution's is a learner's (proto.events.stream_of).
LEARNER_EVENT_NAMES = frozenset(t.__name__ for t in EVENT_TYPES if t not in CATALOG_EVENTS)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = Path("proto/schemas")
ASYNCAPI_PATH = Path("proto/asyncapi.json")

_HEADERS_SCHEMA = "LedgerMessageHeaders"


def encode(document: Mapping[str, Any]) -> bytes:
    """Sorted keys, two-space indent, trailing newline: the same input gives the same bytes."""
    return msgspec.json.format(msgspec.json.encode(document, order="sorted"), indent=2) + b"\n"


# --- JSON Schema ----------------------------------------------------------------------


def schema_file_name(name: str, version: int) -> str:
    return f"{name}.v{version}.schema.json"


def _family(struct: type[msgspec.Struct]) -> str:
    """The message a Struct is a version of (``BadgeCredentialIssuedV2`` is v2 of
    ``BadgeCredentialIssued``); every other Struct is its own."""
    return ISSUER_MESSAGE_VERSIONS.get(struct.__name__, (struct.__name__, 0))[0]


def json_schema_document(struct: type[msgspec.Struct], version: int) -> dict[str, Any]:
    """One Struct as a standalone JSON Schema: a root ``$ref`` into inline ``$defs``."""
    name = _family(struct)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:credit-ledger:proto:{name}:v{version}",
        "$comment": (
            f"Generated from {struct.__module__}.{struct.__name__} by proto/generate.py;"
            " do not edit."
        ),
        "title": name,
        **msgspec.json.schema(struct),
    }


def _schema_sources() -> list[tuple[type[msgspec.Struct], int]]:
    events: list[tuple[type[msgspec.Struct], int]] = [(t, SCHEMA_VERSION) for t in EVENT_TYPES]
    derived: list[tuple[type[msgspec.Struct], int]] = [(t, DERIVED_VERSION) for t in DERIVED_TYPES]
    issued: list[tuple[type[msgspec.Struct], int]] = [
        (t, ISSUER_MESSAGE_VERSIONS[t.__name__][1]) for t in ISSUER_MESSAGE_TYPES
    ]
    return [*events, (RecordedEvent, ENVELOPE_VERSION), *derived, *issued]


def render_json_schemas() -> dict[str, bytes]:
    """File name -> content of every JSON Schema under ``proto/schemas``."""
    return {
        schema_file_name(_family(struct), version): encode(json_schema_document(struct, version))
        for struct, version in _schema_sources()
    }


# --- AsyncAPI -------------------------------------------------------------------------


def asyncapi_document() -> dict[str, Any]:
    """The ledger as a NATS publisher: one channel, message and send operation per event."""
    names = [t.__name__ for t in EVENT_TYPES]
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:credit-ledger:asyncapi:ledger:v1",
        "info": {
            "title": "Credit ledger events",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": (
                "Every event the ledger appends to its log, relayed in log order to the"
                f" JetStream stream `{LEDGER_STREAM}` (subjects `{LEDGER_SUBJECTS}`, file"
                " storage). Each message is a CloudEvent in binary mode: the payload is"
                " the event, the attributes are headers. Postgres is the truth: a"
                " consumer that sees `Ledger-Position` jump fills the gap from the"
                " ledger's read API. Generated by proto/generate.py; do not edit."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "Development nats-server with JetStream; deployments set NATS_URL.",
            }
        },
        "channels": {
            **{name: _channel(name) for name in names},
            **{t.__name__: _derived_channel(t.__name__) for t in DERIVED_TYPES},
            **{t.__name__: _derived_channel(t.__name__) for t in ISSUER_MESSAGE_TYPES},
            DEAD_LETTER: _dead_letter_channel(),
        },
        "operations": {
            **{f"publish{name}": _operation(name) for name in names},
            **{f"publish{t.__name__}": _derived_operation(t) for t in DERIVED_TYPES},
            **{f"publish{t.__name__}": _derived_operation(t) for t in ISSUER_MESSAGE_TYPES},
            f"publish{DEAD_LETTER}": _dead_letter_operation(),
        },
        "components": {
            "schemas": _component_schemas(),
            "messages": {
                **{t.__name__: _message(t) for t in EVENT_TYPES},
                **{t.__name__: _derived_message(t) for t in DERIVED_TYPES},
                **{t.__name__: _derived_message(t) for t in ISSUER_MESSAGE_TYPES},
                DEAD_LETTER: _dead_letter_message(),
            },
            "parameters": _parameters(),
        },
        # AsyncAPI has no notion of a JetStream stream; an extension keeps it in the contract.
        "x-nats-jetstream": {
            "streams": {
                LEDGER_STREAM: {"subjects": [LEDGER_SUBJECTS], "storage": "file"},
                CREDIT_STREAM: {"subjects": [CREDIT_SUBJECTS], "storage": "file"},
                ISSUER_STREAM: {"subjects": list(ISSUER_SUBJECTS), "storage": "file"},
            }
        },
    }


def render_asyncapi() -> bytes:
    return encode(asyncapi_document())


def _channel(name: str) -> dict[str, Any]:
    if name in LEARNER_EVENT_NAMES:
        # A learner's events carry the learner's bucket first (proto.subjects.subject_for).
        address = f"{SUBJECT_PREFIX}.{LEARNER_CATEGORY}.{{bucket}}.{{id}}.{name}"
        parameters = ("bucket", "id")
    else:
        address = f"{SUBJECT_PREFIX}.{{category}}.{{id}}.{name}"
        parameters = ("category", "id")
    return {
        "address": address,
        "title": name,
        "description": (
            f"{name} events on the subject of the stream they belong to, in stream"
            f" `{LEDGER_STREAM}`."
        ),
        "parameters": {p: {"$ref": f"#/components/parameters/{p}"} for p in parameters},
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
    }


def _operation(name: str) -> dict[str, Any]:
    return {
        "action": "send",
        "title": f"Relay {name}",
        "summary": f"The ledger relays each {name} it appends, in log order.",
        "channel": {"$ref": f"#/channels/{name}"},
        "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
    }


def _producer(name: str) -> tuple[str, str]:
    """(service, stream) of a derived message."""
    if name in {t.__name__ for t in ISSUER_MESSAGE_TYPES}:
        return "issuer", ISSUER_STREAM
    return "projector", CREDIT_STREAM


def _derived_channel(name: str) -> dict[str, Any]:
    address = DERIVED_SUBJECTS[name]
    service, stream = _producer(name)
    parameters = {
        part.strip("{}"): {"$ref": f"#/components/parameters/{part.strip('{}')}"}
        for part in address.split(".")
        if part.startswith("{")
    }
    deprecated = ISSUER_DEPRECATED.get(name)
    return {
        "address": address,
        "title": name,
        "description": f"{name} messages of the {service}, in stream `{stream}`."
        + (f" {deprecated}" if deprecated else ""),
        "parameters": parameters,
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
    }


def _derived_operation(struct: type[msgspec.Struct]) -> dict[str, Any]:
    name = struct.__name__
    return {
        "action": "send",
        "title": f"Publish {name}",
        "summary": (
            f"The {_producer(name)[0]} publishes {name} through its outbox, with a"
            " deterministic message id."
        ),
        "channel": {"$ref": f"#/channels/{name}"},
        "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
    }


def _derived_message(struct: type[msgspec.Struct]) -> dict[str, Any]:
    name = struct.__name__
    return {
        "name": name,
        "title": name,
        "summary": _summary(struct),
        "contentType": "application/json",
        # CloudEvents in binary mode, as on LEDGER (proto/cloudevents.py).
        "headers": {
            "type": "object",
            "properties": {
                "Nats-Msg-Id": {
                    "type": "string",
                    "description": "The message_id: deterministic, so a re-publish is dropped.",
                },
                "ce-specversion": {"type": "string", "const": SPEC_VERSION},
                "ce-id": {"type": "string", "description": "The message_id again."},
                "ce-source": {"type": "string", "description": "The publishing service."},
                "ce-type": {"type": "string", "const": derived_ce_type(name)},
                "ce-subject": {
                    "type": "string",
                    "description": (
                        "Whom the message is about: the learner hash on ISSUER (never a raw"
                        " learner id), the learner id on CREDIT."
                    ),
                },
                "ce-time": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When the change that caused the message was committed.",
                },
                "content-type": {"type": "string", "const": "application/json"},
            },
            "required": ["Nats-Msg-Id", *HEADER_NAMES],
        },
        "payload": {"$ref": f"#/components/schemas/{name}"},
    }


DEAD_LETTER = "DeadLetter"


def _dead_letter_channel() -> dict[str, Any]:
    return {
        "address": DEAD_LETTER_ADDRESS,
        "title": DEAD_LETTER,
        "description": (
            "Messages an issuer consumer gave up on after its configured number of"
            f" deliveries, in stream `{ISSUER_STREAM}`: the payload is the failed message's,"
            " unchanged; the headers say where it came from and why it failed. An operator"
            " re-publishes or discards them (README, the issuer)."
        ),
        "parameters": {"consumer": {"$ref": "#/components/parameters/consumer"}},
        "messages": {DEAD_LETTER: {"$ref": f"#/components/messages/{DEAD_LETTER}"}},
    }


def _dead_letter_operation() -> dict[str, Any]:
    return {
        "action": "send",
        "title": f"Publish {DEAD_LETTER}",
        "summary": "An issuer consumer publishes a message it could not handle, then drops it.",
        "channel": {"$ref": f"#/channels/{DEAD_LETTER}"},
        "messages": [{"$ref": f"#/channels/{DEAD_LETTER}/messages/{DEAD_LETTER}"}],
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": DEAD_LETTER,
        "title": DEAD_LETTER,
        "summary": "A message an issuer consumer gave up on, with where it came from.",
        "headers": {
            "type": "object",
            "properties": {
                "Nats-Msg-Id": {
                    "type": "string",
                    "description": "dead-letter/<consumer>/<stream>/<sequence>: one per message.",
                },
                **{
                    name: {"type": "string", "description": description}
                    for name, description in DEAD_LETTER_HEADERS.items()
                },
            },
            "required": ["Nats-Msg-Id", *DEAD_LETTER_HEADERS],
        },
        "payload": {"description": "The failed message's payload, byte for byte."},
    }


def _message(event_type: type[msgspec.Struct]) -> dict[str, Any]:
    name = event_type.__name__
    return {
        "name": name,
        "title": name,
        "summary": _summary(event_type),
        "contentType": "application/json",
        # The shared header schema, with ce-type narrowed to this event's type.
        "headers": {
            "allOf": [
                {"$ref": f"#/components/schemas/{_HEADERS_SCHEMA}"},
                {"type": "object", "properties": {"ce-type": {"const": ce_type(name)}}},
            ]
        },
        "payload": {"$ref": f"#/components/schemas/{name}"},
    }


def _summary(struct: type[msgspec.Struct]) -> str:
    doc = inspect.getdoc(struct)
    return doc.splitlines()[0] if doc else f"The {struct.__name__} ledger event."


def _component_schemas() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        (*EVENT_TYPES, *DERIVED_TYPES, *ISSUER_MESSAGE_TYPES),
        ref_template="#/components/schemas/{name}",
    )
    if _HEADERS_SCHEMA in components:
        raise ValueError(f"a Struct is named {_HEADERS_SCHEMA}, like the header schema")
    return {**components, _HEADERS_SCHEMA: _headers_schema()}


def _headers_schema() -> dict[str, Any]:
    event_id = {"type": "string", "format": "uuid"}
    properties: dict[str, Any] = {
        "ce-specversion": {"type": "string", "const": "1.0"},
        "ce-id": {**event_id, "description": "The event id."},
        "ce-source": {
            "type": "string",
            "format": "uri-reference",
            "description": "The ledger deployment that recorded the event.",
        },
        "ce-type": {
            "type": "string",
            "enum": sorted(ce_type(t.__name__) for t in EVENT_TYPES),
            "description": "org.credit-ledger.ledger.<EventType>.v<schema version>.",
        },
        "ce-subject": {
            "type": "string",
            "description": "The ledger stream of the event.",
            "examples": ["learner-123456789012"],
        },
        "ce-time": {
            "type": "string",
            "format": "date-time",
            "description": "When the ledger recorded the event (RFC 3339).",
        },
        "content-type": {"type": "string", "const": "application/json"},
        "Nats-Msg-Id": {
            **event_id,
            "description": "The event id again, so JetStream drops a re-publish as a duplicate.",
        },
        "Ledger-Position": {
            "type": "string",
            "pattern": "^[1-9][0-9]*$",
            "description": "The event's global, gap-free position in the log, in decimal.",
        },
        "Ledger-Hash": {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "The hash chain after this event: SHA-256, lower-case hex.",
        },
        "Ledger-Stream-Version": {
            "type": "string",
            "pattern": "^[1-9][0-9]*$",
            "description": "The event's version within its stream, so a consumer can spot a gap.",
        },
    }
    optional = _batch_headers()
    return {
        "title": _HEADERS_SCHEMA,
        "description": (
            "CloudEvents NATS protocol binding (binary mode) plus the broker's"
            " de-duplication id and the event's place in the hash-chained log."
        ),
        "type": "object",
        "properties": {**properties, **optional},
        "required": list(properties),
    }


def _batch_headers() -> dict[str, Any]:
    """The relay's order guard and the headers of its JetStream atomic batches
    (services.ledger.sequenced_publish)."""
    decimal = {"type": "string", "pattern": "^[0-9]+$"}
    return {
        "Nats-Batch-Id": {
            "type": "string",
            "maxLength": 64,
            "description": (
                "The relay publishes a larger round of events as one JetStream atomic batch:"
                " the batch this message was stored with (absent on a message published on"
                " its own)."
            ),
        },
        "Nats-Batch-Sequence": {
            **decimal,
            "description": "The message's place in its batch, from 1.",
        },
        "Nats-Batch-Commit": {
            "type": "string",
            "const": "1",
            "description": "On the last message of a batch.",
        },
        "Nats-Expected-Last-Sequence": {
            **decimal,
            "description": (
                "On a message published on its own and on the first of a batch: the stream"
                " sequence it had to follow, so JetStream refused it had anything else"
                " landed in between."
            ),
        },
    }


def _parameters() -> dict[str, Any]:
    return {
        "category": {
            "description": (
                "The stream's category: its name up to the first '-' (see proto.events.stream_of);"
                " a learner's events have channels of their own, with the learner's bucket."
            ),
            "enum": [c for c in STREAM_CATEGORIES if c != LEARNER_CATEGORY],
        },
        "id": {
            "description": (
                "The rest of the stream name: an institution id, a code or a learner id;"
                " one subject token."
            ),
            "examples": ["123456789012", "CNC-FUND-01"],
        },
        "bucket": {
            "description": (
                f"A learner's bucket, 0 to {BUCKETS - 1}: FNV-1a (32 bit) of the learner id's"
                f" UTF-8 bytes modulo {BUCKETS} (proto/partitions.py). Partition k of N holds"
                " the buckets b with b % N == k, so a partition's consumer filters on"
                f" `{SUBJECT_PREFIX}.{LEARNER_CATEGORY}.<b>.>` for each of its buckets (and"
                " takes every non-learner subject)."
            ),
            "examples": ["167"],
        },
        "qualification": {
            "description": "A qualification code (derived messages).",
            "examples": ["ADV-CNC-MACHINING"],
        },
        "learner": {
            "description": "A learner id (derived messages).",
            "examples": ["123456789012"],
        },
        "learnerHash": {
            "description": "HMAC-SHA-256 of the learner id under the issuer's secret (32 hex).",
            "examples": ["3f1c0e9a5b7d4c2e8a6f1b0d9c7e5a31"],
        },
        "consumer": {
            "description": "The durable name of the issuer consumer that gave the message up.",
            "examples": ["issuer-awards", "issuer-credentials", "issuer-revocations"],
        },
    }


# --- files ----------------------------------------------------------------------------


def _expected_files() -> dict[Path, bytes]:
    files = {SCHEMA_DIR / name: content for name, content in render_json_schemas().items()}
    files[ASYNCAPI_PATH] = render_asyncapi()
    return files


def _extra_schema_files(root: Path, expected: Mapping[Path, bytes]) -> list[Path]:
    """Schema files no Struct generates any more (a renamed or removed event)."""
    directory = root / SCHEMA_DIR
    if not directory.is_dir():
        return []
    found = (path.relative_to(root) for path in directory.glob("*.json"))
    return sorted(path for path in found if path not in expected)


def write_all(root: Path) -> list[Path]:
    """Write every artefact under ``root`` and delete schema files nothing generates."""
    expected = _expected_files()
    for extra in _extra_schema_files(root, expected):
        (root / extra).unlink()
    written = []
    for relative, content in expected.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written


def stale_files(root: Path) -> list[str]:
    """Paths (relative to ``root``) that are missing, different or no longer generated."""
    expected = _expected_files()
    stale = [path for path, content in expected.items() if _read(root / path) != content]
    stale += _extra_schema_files(root, expected)
    return sorted(path.as_posix() for path in stale)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


# --- command line ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root: Path = args.root
    if args.command == "generate":
        written = write_all(root)
        print(f"wrote {len(written)} files under {root / 'proto'}")
        return 0
    stale = stale_files(root)
    for path in stale:
        print(f"stale: {path}", file=sys.stderr)
    if stale:
        print("run `credit-ledger contracts generate` and commit the result", file=sys.stderr)
        return 1
    print("contract artefacts are up to date")
    return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--root",
        type=Path,
        default=REPO_ROOT,
        help="repository root holding proto/ (default: %(default)s)",
    )
    parser = argparse.ArgumentParser(
        prog="credit-ledger contracts",
        description="Generate or check the JSON Schemas and the AsyncAPI document in proto/.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "generate", parents=[common], help="write proto/schemas/*.json and proto/asyncapi.json"
    )
    commands.add_parser(
        "check", parents=[common], help="exit 1 if a committed artefact is stale, naming it"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
