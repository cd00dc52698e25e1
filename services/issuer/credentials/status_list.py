"""W3C Bitstring Status List v1.0: the revocation bits and the credential that carries them.

- A list has ``STATUS_LIST_BITS`` (131,072, the spec's 16 KB minimum, for herd privacy)
  one-bit entries; index 0 is the left-most bit, i.e. the most significant bit of byte 0.
- ``encodedList`` is the multibase base64url (prefix 'u', no padding) of the GZIP of the
  bitstring. GZIP's timestamp is zeroed so the same bits always encode the same way.
- Credentials get a global index from a sequence; ``locate`` splits it into
  (list number, index in that list), so lists fill one after another.
"""

from __future__ import annotations

import datetime as dt
import gzip
import zlib
from dataclasses import dataclass
from typing import Any

from services.issuer.credentials.jws import JwsError, b64url_decode, b64url_encode

STATUS_LIST_BITS = 131_072
STATUS_LIST_BYTES = STATUS_LIST_BITS // 8
PURPOSE = "revocation"
MULTIBASE_BASE64URL = "u"
TTL_MS = 300_000  # verifiers may cache a list this long (the spec's `ttl`)
VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"


@dataclass(frozen=True, slots=True)
class StatusEntry:
    list_id: int
    index: int

    def __post_init__(self) -> None:
        if self.list_id < 1 or not 0 <= self.index < STATUS_LIST_BITS:
            raise ValueError(f"no status entry {self.list_id}#{self.index}")


def locate(global_index: int) -> StatusEntry:
    if global_index < 0:
        raise ValueError(f"status indexes are not negative, got {global_index}")
    list_number, index = divmod(global_index, STATUS_LIST_BITS)
    return StatusEntry(list_number + 1, index)


def empty_bits() -> bytes:
    return bytes(STATUS_LIST_BYTES)


def _check(bits: bytes, index: int) -> None:
    if len(bits) != STATUS_LIST_BYTES:
        raise ValueError(f"a status list has {STATUS_LIST_BYTES} bytes, got {len(bits)}")
    if not 0 <= index < STATUS_LIST_BITS:
        raise ValueError(f"index {index} is outside the list")


def with_bit_set(bits: bytes, index: int) -> bytes:
    _check(bits, index)
    changed = bytearray(bits)
    changed[index // 8] |= 0x80 >> (index % 8)
    return bytes(changed)


def is_set(bits: bytes, index: int) -> bool:
    _check(bits, index)
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def encode_list(bits: bytes) -> str:
    if len(bits) != STATUS_LIST_BYTES:
        raise ValueError(f"a status list has {STATUS_LIST_BYTES} bytes, got {len(bits)}")
    return MULTIBASE_BASE64URL + b64url_encode(gzip.compress(bits, compresslevel=9, mtime=0))


def decode_list(encoded: str) -> bytes:
    """The bits of an ``encodedList``; refuses anything that is not a full-size list."""
    if not encoded.startswith(MULTIBASE_BASE64URL):
        raise ValueError("encodedList must be multibase base64url (prefix 'u')")
    try:
        compressed = b64url_decode(encoded[1:])
        # Bounded inflate: a hostile list cannot expand beyond one list's size.
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        bits = inflater.decompress(compressed, STATUS_LIST_BYTES + 1)
    except (JwsError, zlib.error) as exc:
        raise ValueError(f"encodedList is not gzip in base64url: {exc}") from exc
    if len(bits) != STATUS_LIST_BYTES or not inflater.eof:
        raise ValueError(f"encodedList must inflate to exactly {STATUS_LIST_BYTES} bytes")
    return bits


def status_list_credential(
    *, list_url: str, issuer_id: str, bits: bytes, valid_from: dt.datetime
) -> dict[str, Any]:
    """The BitstringStatusListCredential (VCDM 2.0) to be signed and served at ``list_url``."""
    return {
        "@context": [VC_V2_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_id,
        "validFrom": rfc3339(valid_from),
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": PURPOSE,
            "encodedList": encode_list(bits),
            "ttl": TTL_MS,
        },
    }


def status_entry_json(list_url: str, entry: StatusEntry) -> dict[str, str]:
    """The ``credentialStatus`` of a credential (a BitstringStatusListEntry)."""
    return {
        "id": f"{list_url}#{entry.index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": PURPOSE,
        "statusListIndex": str(entry.index),
        "statusListCredential": list_url,
    }


def rfc3339(moment: dt.datetime) -> str:
    """Whole seconds, UTC, 'Z': the form the JWT's nbf can equal exactly."""
    if moment.tzinfo is None:
        raise ValueError("a credential time must carry a time zone")
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
