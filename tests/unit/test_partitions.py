"""How learners are split across projector partitions (proto/partitions.py), and the
subjects a partition's consumer filters on (proto/subjects.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto.events import CATALOG_EVENTS, EVENT_TYPES
from proto.partitions import (
    BUCKETS,
    Partition,
    all_partitions,
    learner_bucket,
    partition_of,
    stream_bucket,
)
from proto.subjects import LEDGER_SUBJECTS, partition_subjects, subject_for
from services.issuer.nats_setup import learner_subjects
from services.issuer.workers import learner_of

# Ids the ledger accepts are 12 digits; the functions take any id that is a subject token.
token_ids = st.text(
    alphabet=st.characters(categories=("Lu", "Ll", "Nd"), max_codepoint=127)
    | st.sampled_from("-_"),
    min_size=1,
    max_size=24,
)
learner_ids = st.from_regex(r"[0-9]{12}", fullmatch=True) | token_ids
counts = st.integers(min_value=1, max_value=BUCKETS)
LEARNER_TYPES = [t.__name__ for t in EVENT_TYPES if t not in CATALOG_EVENTS]
OTHER_STREAMS = [
    ("institution-NSTI-CHENNAI", "InstitutionRegistered"),
    ("institution-ATI-MUMBAI", "AccreditationGranted"),
    ("microcredential-CNC-FUND", "MicroCredentialDefined"),
    ("qualification-ADV-CNC-MACHINING", "QualificationDefined"),
]


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: '*' is one token, a final '>' one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, part in enumerate(wanted):
        if part == ">":
            return index == len(wanted) - 1 and len(tokens) > index
        if index >= len(tokens) or (part != "*" and part != tokens[index]):
            return False
    return len(tokens) == len(wanted)


def test_the_subject_matcher_follows_nats() -> None:
    assert subject_matches("a.*.c", "a.b.c")
    assert not subject_matches("a.*.c", "a.b.c.d")
    assert not subject_matches("a.*", "a")
    assert subject_matches("a.>", "a.b.c")
    assert not subject_matches("a.>", "a")
    assert not subject_matches("a.b", "a.b.c")
    assert subject_matches(LEDGER_SUBJECTS, "ledger.v1.learner.1.2.AssessmentPassed")


def test_a_known_learner_has_a_fixed_bucket() -> None:
    # FNV-1a 32 of b"123456789012" is 0x2858FDA7; the bucket is its low byte. Fixed for
    # good: subjects and stored buckets depend on it.
    assert learner_bucket("123456789012") == 0x2858FDA7 % BUCKETS == 167
    assert stream_bucket("learner-123456789012") == 167


@given(learner_ids)
def test_a_bucket_is_in_range_and_a_learner_streams_bucket_is_its_learners(
    learner_id: str,
) -> None:
    assert 0 <= learner_bucket(learner_id) < BUCKETS
    assert stream_bucket(f"learner-{learner_id}") == learner_bucket(learner_id)


@pytest.mark.parametrize("stream", [stream for stream, _ in OTHER_STREAMS])
def test_other_streams_have_no_bucket_and_belong_to_every_partition(stream: str) -> None:
    assert stream_bucket(stream) is None
    assert all(p.holds_bucket(stream_bucket(stream)) for p in all_partitions(7))


@given(counts)
def test_the_partitions_of_n_hold_every_bucket_exactly_once(count: int) -> None:
    held = [b for p in all_partitions(count) for b in p.buckets]
    assert sorted(held) == list(range(BUCKETS))
    for partition in all_partitions(count):
        assert all(partition.holds_bucket(b) for b in partition.buckets)


@given(learner_ids, counts)
def test_a_learner_is_held_by_exactly_one_partition_of_n(learner_id: str, count: int) -> None:
    holders = [p for p in all_partitions(count) if p.holds_learner(learner_id)]
    assert holders == [partition_of(learner_id, count)]
    bucket = learner_bucket(learner_id)
    assert [p for p in all_partitions(count) if p.holds_bucket(bucket)] == holders


@given(learner_ids, st.sampled_from(LEARNER_TYPES), counts)
def test_a_learner_subject_matches_exactly_one_partitions_filters(
    learner_id: str, event_type: str, count: int
) -> None:
    subject = subject_for(f"learner-{learner_id}", event_type)
    matching = [
        p
        for p in all_partitions(count)
        if any(subject_matches(f, subject) for f in partition_subjects(p))
    ]
    assert matching == [partition_of(learner_id, count)]


@given(st.sampled_from(OTHER_STREAMS), counts)
def test_every_other_subject_matches_every_partitions_filters(
    stream_and_type: tuple[str, str], count: int
) -> None:
    subject = subject_for(*stream_and_type)
    for partition in all_partitions(count):
        assert any(subject_matches(f, subject) for f in partition_subjects(partition))


@given(counts)
def test_a_partitions_filters_never_overlap(count: int) -> None:
    # JetStream refuses a consumer whose filter subjects overlap; distinct literal prefixes
    # ending in '>' never do.
    for partition in all_partitions(count):
        filters = partition_subjects(partition)
        assert len(set(filters)) == len(filters)
        prefixes = [f.removesuffix(".>") for f in filters]
        assert all(f.endswith(">") for f in filters)
        assert not any(a != b and (a + ".").startswith(b + ".") for a in prefixes for b in prefixes)


@pytest.mark.parametrize(
    ("index", "count"),
    [(0, 0), (0, -1), (0, BUCKETS + 1), (1, 1), (2, 2), (-1, 2), (BUCKETS, BUCKETS)],
)
def test_a_partition_out_of_range_is_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="partition"):
        Partition(index, count)


@given(st.data(), counts)
def test_every_partition_in_range_is_accepted(data: st.DataObject, count: int) -> None:
    index = data.draw(st.integers(min_value=0, max_value=count - 1))
    partition = Partition(index, count)
    assert str(partition) == f"{index}/{count}"
    assert partition.buckets[0] == index


@given(learner_ids, st.sampled_from(LEARNER_TYPES), st.sampled_from(LEARNER_TYPES))
def test_the_issuers_learner_filters_take_every_learner_of_their_type(
    learner_id: str, event_type: str, filtered: str
) -> None:
    subject = subject_for(f"learner-{learner_id}", event_type)
    assert subject_matches(learner_subjects(filtered), subject) == (event_type == filtered)
    assert learner_of(subject) == learner_id
