"""How learners are split across projector partitions: one function of the learner id.

Every learner falls in one of ``BUCKETS`` buckets, FNV-1a (32 bit) of the id's UTF-8
bytes modulo ``BUCKETS``; partition ``k`` of ``N`` holds the buckets ``b`` with
``b % N == k``. The same function is used everywhere a learner is placed:

- the relay puts the bucket in the subject (``proto.subjects.subject_for``), and a
  partition's consumer filters on its buckets' subjects;
- the ledger stores it in ``ledger.events.bucket`` (its SQL twin, ``ledger.learner_bucket``,
  is tested against this one), so ``GET /v1/log?partition=k&of=N`` reads one partition;
- the projector stores it beside each learner's rows and answers a query with the
  checkpoint of the learner's partition.

Events of other streams (catalog, institutions) have no bucket and belong to every
partition. A fixed bucket count lets N change (up to ``BUCKETS``) without moving a
learner's bucket, so subjects and stored buckets never need rewriting.
"""

from __future__ import annotations

import functools

import msgspec

BUCKETS = 256
FNV32_OFFSET = 0x811C9DC5
FNV32_PRIME = 0x01000193
LEARNER_STREAM_PREFIX = "learner-"


@functools.lru_cache(maxsize=65536)
def learner_bucket(learner_id: str) -> int:
    """The learner's bucket, in ``range(BUCKETS)``."""
    value = FNV32_OFFSET
    for byte in learner_id.encode():
        value = ((value ^ byte) * FNV32_PRIME) & 0xFFFFFFFF
    return value % BUCKETS


def stream_bucket(stream: str) -> int | None:
    """The bucket of a stream's events: its learner's, or None for a non-learner stream."""
    if stream.startswith(LEARNER_STREAM_PREFIX):
        return learner_bucket(stream.removeprefix(LEARNER_STREAM_PREFIX))
    return None


class Partition(msgspec.Struct, frozen=True):
    """Partition ``index`` of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= BUCKETS:
            raise ValueError(f"a partition count is between 1 and {BUCKETS}, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"partition {self.index} is not one of 0..{self.count - 1}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def buckets(self) -> tuple[int, ...]:
        return tuple(range(self.index, BUCKETS, self.count))

    def holds_bucket(self, bucket: int | None) -> bool:
        """Whether an event of this bucket belongs here (no bucket: every partition's)."""
        return bucket is None or bucket % self.count == self.index

    def holds_learner(self, learner_id: str) -> bool:
        return learner_bucket(learner_id) % self.count == self.index


def partition_of(learner_id: str, count: int) -> Partition:
    """The partition of ``count`` that holds ``learner_id``."""
    return Partition(learner_bucket(learner_id) % count, count)


def all_partitions(count: int) -> list[Partition]:
    return [Partition(index, count) for index in range(count)]
