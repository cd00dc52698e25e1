"""Names on the NATS side of the ledger (docs/architecture.md §4): stream, subjects, CloudEvents type.

The relay publishes with these and ``proto/generate.py`` documents them in the AsyncAPI
document, so both read the naming from this one place.
"""

from __future__ import annotations

import re

from proto.events import EVENT_TYPE_NAMES, SCHEMA_VERSION
from proto.partitions import Partition, learner_bucket

LEDGER_STREAM = "LEDGER"
SUBJECT_PREFIX = "ledger.v1"
LEDGER_SUBJECTS = f"{SUBJECT_PREFIX}.>"

# The prefixes ``proto.events.stream_of`` gives a stream name: "<category>-<id>".
STREAM_CATEGORIES: tuple[str, ...] = ("institution", "microcredential", "qualification", "learner")
LEARNER_CATEGORY = "learner"

# One subject token: a '.' would add a token and '*' / '>' are wildcards, so any of them
# in an id would send the message past consumers' subject filters.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def ce_type(event_type: str) -> str:
    """The CloudEvents ``type`` of a ledger event: reverse-DNS and versioned."""
    _check_event_type(event_type)
    return f"org.credit-ledger.ledger.{event_type}.v{SCHEMA_VERSION}"


def subject_for(stream: str, event_type: str) -> str:
    """The subject of an event: ``ledger.v1.qualification.QUAL-1.RuleDefined``, and for a
    learner's event with the learner's bucket first (``proto.partitions``), so a partition's
    consumer can filter on it: ``ledger.v1.learner.167.123456789012.AssessmentPassed``.

    The stream splits on its first '-' only, since ids (micro-credential codes, for one)
    may contain '-' themselves.
    """
    _check_event_type(event_type)
    category, sep, stream_id = stream.partition("-")
    if not sep or category not in STREAM_CATEGORIES:
        raise ValueError(f"stream {stream!r} has no known category")
    if not _TOKEN.fullmatch(stream_id):
        raise ValueError(f"stream id {stream_id!r} is not a single subject token")
    if category == LEARNER_CATEGORY:
        return f"{SUBJECT_PREFIX}.{category}.{learner_bucket(stream_id)}.{stream_id}.{event_type}"
    return f"{SUBJECT_PREFIX}.{category}.{stream_id}.{event_type}"


def partition_subjects(partition: Partition) -> list[str]:
    """The subjects a partition's consumer filters on: every non-learner event (the
    catalog is every partition's) and the learner events of its buckets."""
    if partition.count == 1:
        return [LEDGER_SUBJECTS]
    shared = [f"{SUBJECT_PREFIX}.{c}.>" for c in STREAM_CATEGORIES if c != LEARNER_CATEGORY]
    own = [f"{SUBJECT_PREFIX}.{LEARNER_CATEGORY}.{bucket}.>" for bucket in partition.buckets]
    return shared + own


def _check_event_type(event_type: str) -> None:
    # An unknown type would be published under a subject and ce-type no schema describes.
    if event_type not in EVENT_TYPE_NAMES:
        raise ValueError(f"unknown event type {event_type!r}")
