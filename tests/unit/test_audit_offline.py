"""Offline checks from a signed head and the JWKS alone: genuine proofs pass; a forged proof,
a wrong leaf, a wrong size, a rewritten log and a head signed by another key fail."""

from __future__ import annotations

import datetime as dt
import hashlib
from io import StringIO
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credit_ledger.audit_cli import check_consistency_command, check_inclusion_command
from proto.canonical import GENESIS_HASH, canonical_bytes
from services.ledger.audit.merkle import (
    InMemoryNodes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
)
from services.ledger.audit.offline import check_consistency, check_inclusion
from services.ledger.audit.schemas import ConsistencyProof, InclusionProof, JsonWebKeySet
from services.ledger.audit.signing import TreeSigner, signer_from_key
from services.ledger.audit.tree_head import TreeHead, sign_tree_head

SIGNED_AT = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)


def recorded_events(count: int, reason: str = "review") -> list[dict[str, Any]]:
    events, previous = [], GENESIS_HASH
    for position in range(1, count + 1):
        event: dict[str, Any] = {
            "position": position,
            "event_id": f"00000000-0000-4000-8000-{position:012d}",
            "stream": "learner-123456789012",
            "stream_version": position,
            "type": "AssessmentRevoked",
            "schema_version": 1,
            "data": {"type": "AssessmentRevoked", "reason": f"{reason} {position}"},
            "metadata": {"actor": {"role": "institution", "key_id": "k"}, "request_id": "r"},
            "recorded_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=position),
        }
        previous = hashlib.sha256(previous + canonical_bytes(**event)).digest()
        events.append(msgspec.to_builtins({**event, "hash": previous.hex()}))
    return events


class Log:
    """A log, its tree (leaf data = chain hash) and a signer: the ledger's side, in memory."""

    def __init__(self, events: list[dict[str, Any]], signer: TreeSigner) -> None:
        self.events = events
        self.tree = InMemoryNodes(leaf_hash(bytes.fromhex(e["hash"])) for e in events)
        self.signer = signer

    def head(self, size: int, signer: TreeSigner | None = None) -> TreeHead:
        signer = signer or self.signer
        root = InMemoryNodes(leaf_hash(bytes.fromhex(e["hash"])) for e in self.events[:size]).root()
        return sign_tree_head(signer.private_key, signer.key_id, size, root, SIGNED_AT)

    def inclusion(self, position: int, size: int) -> InclusionProof:
        path = inclusion_proof(self.tree, position - 1, size)
        return InclusionProof(
            position=position,
            leaf_index=position - 1,
            tree_size=size,
            leaf_hash=self.tree.node(0, position - 1).hex(),
            audit_path=[h.hex() for h in path],
            root_hash=self.head(size).root_hash,
        )

    def consistency(self, old: int, new: int) -> ConsistencyProof:
        return ConsistencyProof(
            from_size=old,
            to_size=new,
            proof=[h.hex() for h in consistency_proof(self.tree, old, new)],
            from_root=self.head(old).root_hash,
            to_root=self.head(new).root_hash,
        )

    def previous_hash(self, position: int) -> bytes:
        return GENESIS_HASH if position == 1 else bytes.fromhex(self.events[position - 2]["hash"])


@pytest.fixture(scope="module")
def signer() -> TreeSigner:
    return signer_from_key(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def jwks(signer: TreeSigner) -> JsonWebKeySet:
    return JsonWebKeySet(keys=[signer.public_jwk()])


@pytest.fixture(scope="module")
def log(signer: TreeSigner) -> Log:
    return Log(recorded_events(37), signer)


@pytest.mark.parametrize(("position", "size"), [(1, 1), (1, 37), (17, 17), (20, 37), (37, 37)])
def test_a_genuine_inclusion_proof_passes(
    log: Log, jwks: JsonWebKeySet, position: int, size: int
) -> None:
    verdict = check_inclusion(
        log.head(size),
        log.inclusion(position, size),
        log.events[position - 1],
        log.previous_hash(position),
        jwks,
    )
    assert verdict.ok, verdict.reason


def test_a_forged_audit_path_fails(log: Log, jwks: JsonWebKeySet) -> None:
    proof = log.inclusion(9, 37)
    forged = msgspec.structs.replace(
        proof, audit_path=[proof.audit_path[0][::-1], *proof.audit_path[1:]]
    )
    verdict = check_inclusion(log.head(37), forged, log.events[8], log.previous_hash(9), jwks)
    assert not verdict.ok
    assert "audit path" in verdict.reason


def test_an_edited_event_is_not_the_leaf_that_was_signed(log: Log, jwks: JsonWebKeySet) -> None:
    edited = {**log.events[8], "data": {"type": "AssessmentRevoked", "reason": "rewritten"}}
    verdict = check_inclusion(
        log.head(37), log.inclusion(9, 37), edited, log.previous_hash(9), jwks
    )
    assert not verdict.ok
    assert "not the leaf the log committed to" in verdict.reason


def test_a_wrong_previous_hash_gives_a_wrong_leaf(log: Log, jwks: JsonWebKeySet) -> None:
    verdict = check_inclusion(log.head(37), log.inclusion(9, 37), log.events[8], bytes(32), jwks)
    assert not verdict.ok


def test_a_proof_for_another_tree_size_fails(log: Log, jwks: JsonWebKeySet) -> None:
    verdict = check_inclusion(
        log.head(37), log.inclusion(9, 36), log.events[8], log.previous_hash(9), jwks
    )
    assert not verdict.ok
    assert "tree size 36" in verdict.reason
    relabelled = msgspec.structs.replace(log.inclusion(9, 36), tree_size=37)
    verdict = check_inclusion(log.head(37), relabelled, log.events[8], log.previous_hash(9), jwks)
    assert not verdict.ok


def test_a_head_signed_by_another_key_fails(
    log: Log, signer: TreeSigner, jwks: JsonWebKeySet
) -> None:
    intruder = signer_from_key(Ed25519PrivateKey.generate())
    # Signed by another key but claiming the published key's id.
    impostor = sign_tree_head(
        intruder.private_key, signer.key_id, 37, bytes.fromhex(log.head(37).root_hash), SIGNED_AT
    )
    verdict = check_inclusion(
        impostor, log.inclusion(9, 37), log.events[8], log.previous_hash(9), jwks
    )
    assert not verdict.ok
    assert "signature does not verify" in verdict.reason
    # Signed by a key the JWKS does not publish.
    verdict = check_inclusion(
        log.head(37, intruder), log.inclusion(9, 37), log.events[8], log.previous_hash(9), jwks
    )
    assert not verdict.ok
    assert "has no key" in verdict.reason


def test_a_key_whose_id_is_not_its_thumbprint_is_refused(log: Log, signer: TreeSigner) -> None:
    jwks = JsonWebKeySet(keys=[{**signer.public_jwk(), "kid": "chosen-by-hand"}])
    head = sign_tree_head(
        signer.private_key, "chosen-by-hand", 3, bytes.fromhex(log.head(3).root_hash), SIGNED_AT
    )
    verdict = check_inclusion(head, log.inclusion(2, 3), log.events[1], log.previous_hash(2), jwks)
    assert not verdict.ok
    assert "thumbprint" in verdict.reason


@pytest.mark.parametrize(("old", "new"), [(1, 2), (3, 37), (16, 37), (36, 37), (0, 5), (37, 37)])
def test_a_genuine_consistency_proof_passes(
    log: Log, jwks: JsonWebKeySet, old: int, new: int
) -> None:
    verdict = check_consistency(log.head(old), log.head(new), log.consistency(old, new), jwks)
    assert verdict.ok, verdict.reason


def test_a_rewritten_log_is_inconsistent_with_heads_signed_before(
    log: Log, signer: TreeSigner, jwks: JsonWebKeySet
) -> None:
    rewritten = Log(recorded_events(37, reason="rewritten"), signer)
    verdict = check_consistency(
        log.head(20), rewritten.head(37), rewritten.consistency(20, 37), jwks
    )
    assert not verdict.ok
    assert "does not extend" in verdict.reason


def test_a_forged_consistency_proof_fails(log: Log, jwks: JsonWebKeySet) -> None:
    proof = log.consistency(5, 37)
    forged = msgspec.structs.replace(proof, proof=proof.proof[:-1])
    assert not check_consistency(log.head(5), log.head(37), forged, jwks).ok
    assert not check_consistency(log.head(37), log.head(5), proof, jwks).ok
    assert not check_consistency(log.head(6), log.head(37), proof, jwks).ok


def _write(path: Path, value: Any) -> Path:
    path.write_bytes(msgspec.json.encode(value))
    return path


def test_the_cli_checks_files_and_answers_with_its_exit_status(
    tmp_path: Path, log: Log, jwks: JsonWebKeySet
) -> None:
    head = _write(tmp_path / "head.json", log.head(37))
    proof = _write(tmp_path / "proof.json", log.inclusion(9, 37))
    event = _write(tmp_path / "event.json", log.events[8])
    keys = _write(tmp_path / "jwks.json", jwks)
    previous = log.previous_hash(9).hex()
    out = StringIO()
    assert check_inclusion_command(head, proof, event, previous, keys, out) == 0
    assert out.getvalue().startswith("ok: ")
    edited = _write(tmp_path / "edited.json", {**log.events[8], "stream_version": 99})
    out = StringIO()
    assert check_inclusion_command(head, proof, edited, previous, keys, out) == 1
    assert out.getvalue().startswith("FAILED: ")
    assert check_inclusion_command(head, proof, event, "not hex", keys, StringIO()) == 2
    assert check_inclusion_command(head, keys, event, previous, keys, StringIO()) == 2

    old = _write(tmp_path / "old.json", log.head(10))
    consistency = _write(tmp_path / "consistency.json", log.consistency(10, 37))
    assert check_consistency_command(old, head, consistency, keys, StringIO()) == 0
    assert check_consistency_command(head, old, consistency, keys, StringIO()) == 1
    assert check_consistency_command(old, head, tmp_path / "missing.json", keys, StringIO()) == 2
