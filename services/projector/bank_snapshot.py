"""A learner's folded bank as bytes, stored beside its summary.

A cache miss then decodes one row instead of decoding and folding the learner's whole
history. The snapshot is the bank exactly, with its mappings in their folding order, so a
bank read back behaves as the one that was stored; it is always written in the
transaction that moves the checkpoint, so it is the bank as of the checkpoint.
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import msgspec

from domain.holdings import AwardBlock, CreditBank, HeldAward, Pass


class BankSnapshot(msgspec.Struct, frozen=True, array_like=True):
    learner_id: str
    passes: list[Pass]
    awards: list[HeldAward]
    award_blocks: list[AwardBlock]
    position: int
    recorded_at: dt.datetime | None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(BankSnapshot)


def encode_bank(bank: CreditBank) -> bytes:
    return _encoder.encode(
        BankSnapshot(
            learner_id=bank.learner_id,
            passes=list(bank.passes.values()),
            awards=list(bank.awards.values()),
            award_blocks=list(bank.award_blocks.values()),
            position=bank.position,
            recorded_at=bank.recorded_at,
        )
    )


def decode_bank(data: bytes) -> CreditBank:
    snapshot = _decoder.decode(data)
    return CreditBank(
        learner_id=snapshot.learner_id,
        passes=MappingProxyType({p.key: p for p in snapshot.passes}),
        awards=MappingProxyType({a.award_id: a for a in snapshot.awards}),
        award_blocks=MappingProxyType({b.qualification_code: b for b in snapshot.award_blocks}),
        position=snapshot.position,
        recorded_at=snapshot.recorded_at,
    )
