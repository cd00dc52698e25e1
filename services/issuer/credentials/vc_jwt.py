"""Signing a credential as a VC-JWT, and verifying one with a reason for every failure.

Verification reports four checks, each with a reason a person can act on:

- ``signature``: a well-formed compact JWS, an accepted ``alg`` (never ``none``), and a
  signature that holds under the key;
- ``issuer_key``: the ``kid`` names a key this issuer publishes, as the DID URL its
  did.json lists (``did:web:...#<thumbprint>``, what credentials are signed with) or as the
  key URL older credentials carry (``<public URL>/v1/keys/<thumbprint>``); embedded ``jwk``
  keys are not trusted (anyone can embed their own); ``iss`` / ``issuer.id`` are this issuer;
- ``validity``: the JWT claims match the credential (OB 3.0 §8.2.6) and now lies between
  ``validFrom`` and ``validUntil``;
- ``status``: the credential's bit in its Bitstring Status List is not set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec

from services.issuer.credentials.achievement import encode_payload, jwt_claims
from services.issuer.credentials.jws import (
    JwsError,
    check_header,
    encode_compact,
    parse_compact,
    signature_holds,
)
from services.issuer.credentials.keys import IssuerKey, KeySet
from services.issuer.credentials.status_list import PURPOSE, STATUS_LIST_BITS

# (list id, index) -> whether the bit is set; None when this issuer has no such list.
StatusLookup = Callable[[int, int], Awaitable[bool | None]]


def sign_credential(credential: Mapping[str, Any], keys: KeySet) -> tuple[str, IssuerKey]:
    key = keys.active
    # OB 3.0 allows exactly alg, kid, jwk and typ in the JOSE header; typ must be "JWT".
    header = {"alg": key.alg, "kid": keys.kid(key), "typ": "JWT"}
    return encode_compact(header, encode_payload(jwt_claims(credential)), key.jwk), key


class Check(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    reason: str


class VerificationReport(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    signature: Check
    issuer_key: Check
    validity: Check
    status: Check
    kid: str | None = None
    alg: str | None = None
    credential_id: str | None = None


def _fail(reason: str) -> Check:
    return Check(ok=False, reason=reason)


def _ok(reason: str) -> Check:
    return Check(ok=True, reason=reason)


def _report(
    signature: Check,
    issuer_key: Check,
    validity: Check,
    status: Check,
    header: Mapping[str, Any] | None = None,
    credential_id: str | None = None,
) -> VerificationReport:
    kid = header.get("kid") if header else None
    alg = header.get("alg") if header else None
    return VerificationReport(
        valid=all(c.ok for c in (signature, issuer_key, validity, status)),
        signature=signature,
        issuer_key=issuer_key,
        validity=validity,
        status=status,
        kid=kid if isinstance(kid, str) else None,
        alg=alg if isinstance(alg, str) else None,
        credential_id=credential_id,
    )


async def verify_credential(
    token: str,
    *,
    keys: KeySet,
    issuer_id: str,
    status_list_prefix: str,
    status_of: StatusLookup,
    now: dt.datetime,
) -> VerificationReport:
    skipped = _fail("not checked: the signature could not be checked")
    try:
        parsed = parse_compact(token)
    except JwsError as exc:
        return _report(_fail(f"not a compact JWS: {exc}"), skipped, skipped, skipped)
    header = parsed.header
    try:
        alg = check_header(header)
    except JwsError as exc:
        return _report(_fail(str(exc)), skipped, skipped, skipped, header)
    kid = header.get("kid")
    if not isinstance(kid, str):
        reason = "the header names no kid; an embedded jwk is not trusted, only published keys"
        return _report(skipped, _fail(reason), skipped, skipped, header)
    key = keys.by_kid(kid)
    if key is None:
        reason = (
            f"kid {kid} is not a key this issuer publishes (see /.well-known/did.json"
            " or /.well-known/jwks.json)"
        )
        return _report(skipped, _fail(reason), skipped, skipped, header)
    if key.alg != alg:
        reason = f"the header says {alg} but key {kid} is an {key.alg} key"
        return _report(_fail(reason), _ok(f"{kid} is published"), skipped, skipped, header)
    if not signature_holds(token, key.public):
        reason = "the signature does not match the payload: it was altered or signed by another key"
        return _report(_fail(reason), _ok(f"{kid} is published"), skipped, skipped, header)
    signature = _ok(f"{alg} signature holds under {kid}")
    try:
        credential = msgspec.json.decode(parsed.payload)
    except msgspec.DecodeError:
        credential = None
    if not isinstance(credential, dict):
        bad = _fail("the payload is not a JSON object")
        return _report(signature, _ok(f"{kid} is published"), bad, bad, header)
    credential_id = credential.get("id") if isinstance(credential.get("id"), str) else None
    return _report(
        signature,
        _issuer_check(credential, kid, issuer_id),
        _validity(credential, now),
        await _status(credential, status_list_prefix, status_of),
        header,
        credential_id,
    )


def _issuer_check(credential: Mapping[str, Any], kid: str, issuer_id: str) -> Check:
    issuer = credential.get("issuer")
    named = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    if named != issuer_id:
        return _fail(f"issuer.id is {named!r}, not this issuer ({issuer_id})")
    if credential.get("iss") != issuer_id:
        return _fail(f"the iss claim {credential.get('iss')!r} is not issuer.id ({issuer_id})")
    return _ok(f"signed by {issuer_id} with its published key {kid}")


def _instant(value: Any) -> dt.datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else None
    return None


def _validity(credential: Mapping[str, Any], now: dt.datetime) -> Check:
    subject = credential.get("credentialSubject")
    subject_id = subject.get("id") if isinstance(subject, Mapping) else None
    if credential.get("jti") != credential.get("id"):
        return _fail("the jti claim does not match the credential id")
    if subject_id is not None and credential.get("sub") != subject_id:
        return _fail("the sub claim does not match credentialSubject.id")
    valid_from = _instant(credential.get("validFrom"))
    nbf = _instant(credential.get("nbf"))
    if valid_from is None or nbf is None:
        return _fail("validFrom and the nbf claim are both required")
    if int(valid_from.timestamp()) != int(nbf.timestamp()):
        return _fail("the nbf claim does not equal validFrom")
    if now < valid_from:
        return _fail(f"not valid before {valid_from.isoformat()}")
    until = _instant(credential.get("validUntil"))
    exp = _instant(credential.get("exp"))
    if (until is None) != (exp is None) or (
        until is not None and exp is not None and int(until.timestamp()) != int(exp.timestamp())
    ):
        return _fail("the exp claim does not equal validUntil")
    if until is not None and now >= until:
        return _fail(f"expired on {until.isoformat()}")
    return _ok(f"valid from {valid_from.isoformat()}" + (f" until {until}" if until else ""))


async def _status(credential: Mapping[str, Any], prefix: str, status_of: StatusLookup) -> Check:
    entry = credential.get("credentialStatus")
    if entry is None:
        return _ok("no credentialStatus: the credential cannot be revoked")
    if not isinstance(entry, Mapping) or entry.get("type") != "BitstringStatusListEntry":
        return _fail("credentialStatus is not a BitstringStatusListEntry")
    if entry.get("statusPurpose") != PURPOSE:
        return _fail(f"status purpose {entry.get('statusPurpose')!r} is not supported")
    url = entry.get("statusListCredential")
    if not isinstance(url, str) or not url.startswith(prefix):
        return _fail(f"status list {url!r} is not one this issuer publishes")
    try:
        list_id = int(url.removeprefix(prefix))
        index = int(str(entry.get("statusListIndex")))
    except ValueError:
        return _fail("the status list id or index is not a number")
    if not 0 <= index < STATUS_LIST_BITS:
        return _fail(f"status index {index} is outside the list")
    revoked = await status_of(list_id, index)
    if revoked is None:
        return _fail(f"status list {url} does not exist")
    if revoked:
        return _fail(f"revoked: bit {index} of status list {url} is set")
    return _ok(f"not revoked (bit {index} of {url} is clear)")


__all__ = ["Check", "JwsError", "VerificationReport", "sign_credential", "verify_credential"]
