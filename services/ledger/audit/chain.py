"""Walking the hash chain along the log, recomputing every hash (docs/architecture.md §3).

``hash_n = SHA-256(hash_{n-1} || canonical bytes of event n)``. The walk carries the hash it
recomputed, never the stored one, so after an edit every later stored hash disagrees too
and a rewritten log can never pass for the original. Where a stored hash disagrees, the
walk also says whether that row's stored hash follows from its stored predecessor: it does
not at the edited row itself (its content changed, its stored hash did not), and does at
every later row that merely inherits the divergence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from proto.canonical import GENESIS_HASH
from services.ledger.audit.stored_rows import Rows

_sha256 = hashlib.sha256


class LogGap(RuntimeError):
    """Positions are gap-free (docs/architecture.md §3): a jump means rows were deleted or the read is wrong."""

    def __init__(self, expected: int, found: int) -> None:
        super().__init__(f"the log jumps from position {expected - 1} to {found}")
        self.expected = expected
        self.found = found


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A position whose stored hash is not the one recomputed from the log's content."""

    position: int
    stored_hash: str
    recomputed_hash: str
    # The stored hash does not follow from the previous *stored* hash either: this row's
    # content (or hash) was changed, rather than only inheriting an earlier change.
    # None when the previous stored hash is not known.
    edited_here: bool | None


class ChainWalk:
    """Recomputes the chain batch by batch from ``position`` / ``recomputed``."""

    def __init__(
        self,
        position: int = 0,
        recomputed: bytes = GENESIS_HASH,
        stored_hex: bytes | None = None,
    ) -> None:
        if position < 0 or len(recomputed) != 32:
            raise ValueError("a walk starts at a position >= 0 with a 32-byte hash")
        self.position = position
        self.recomputed = recomputed
        # The stored hash at ``position``, when known; genesis is the same for everyone.
        self._stored_hex = GENESIS_HASH.hex().encode() if position == 0 else stored_hex

    def until_mismatch(self, rows: Rows) -> Mismatch | None:
        """Walk ``rows`` up to and including the first mismatch: the hot loop of verify,
        which keeps nothing but the last hash."""
        sha256 = _sha256
        first = self.position + 1
        digest, expected = self.recomputed, first
        for position, canonical, stored in zip(
            rows.positions, rows.canonicals, rows.stored_hex, strict=True
        ):
            if position != expected:
                self._advance(expected - 1, digest, rows.stored_hex, expected - first)
                raise LogGap(expected, position)
            digest = sha256(digest + canonical).digest()
            if digest.hex().encode() != stored:
                index = expected - first
                previous = rows.stored_hex[index - 1] if index else self._stored_hex
                self._advance(position, digest, rows.stored_hex, index + 1)
                return _mismatch(position, canonical, stored, digest, previous)
            expected += 1
        self._advance(expected - 1, digest, rows.stored_hex, expected - first)
        return None

    def recompute(self, rows: Rows) -> tuple[list[bytes], list[Mismatch]]:
        """Walk all of ``rows``: the recomputed hash of each, and every mismatch."""
        hashes: list[bytes] = []
        mismatches: list[Mismatch] = []
        digest, expected, previous = self.recomputed, self.position + 1, self._stored_hex
        for index, position in enumerate(rows.positions):
            if position != expected:
                self._advance(expected - 1, digest, rows.stored_hex, index)
                raise LogGap(expected, position)
            canonical, stored = rows.canonicals[index], rows.stored_hex[index]
            digest = _sha256(digest + canonical).digest()
            hashes.append(digest)
            if digest.hex().encode() != stored:
                mismatches.append(_mismatch(position, canonical, stored, digest, previous))
            previous = stored
            expected += 1
        self._advance(expected - 1, digest, rows.stored_hex, len(hashes))
        return hashes, mismatches

    def _advance(self, position: int, digest: bytes, stored_hex: list[bytes], walked: int) -> None:
        self.position, self.recomputed = position, digest
        if walked:
            self._stored_hex = stored_hex[walked - 1]


def _mismatch(
    position: int, canonical: bytes, stored: bytes, digest: bytes, previous: bytes | None
) -> Mismatch:
    return Mismatch(
        position=position,
        stored_hash=stored.decode(),
        recomputed_hash=digest.hex(),
        edited_here=_edited_here(previous, canonical, stored),
    )


def _edited_here(previous_stored: bytes | None, canonical: bytes, stored_hex: bytes) -> bool | None:
    if previous_stored is None:
        return None
    try:
        previous = bytes.fromhex(previous_stored.decode())
    except ValueError:
        return True
    return _sha256(previous + canonical).hexdigest().encode() != stored_hex
