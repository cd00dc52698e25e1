"""W3C Bitstring Status List encoding: 16 KB minimum, left-most bit first, gzip, multibase."""

from __future__ import annotations

import base64
import datetime as dt
import gzip

import pytest

from services.issuer.credentials.status_list import (
    STATUS_LIST_BITS,
    StatusEntry,
    decode_list,
    empty_bits,
    encode_list,
    is_set,
    locate,
    status_list_credential,
    with_bit_set,
)


def test_a_list_holds_the_specs_minimum_of_131072_bits() -> None:
    assert STATUS_LIST_BITS == 131_072
    assert len(empty_bits()) * 8 == STATUS_LIST_BITS


def test_index_zero_is_the_left_most_bit() -> None:
    bits = with_bit_set(empty_bits(), 0)
    assert bits[0] == 0b1000_0000
    bits = with_bit_set(bits, 9)
    assert bits[1] == 0b0100_0000
    assert is_set(bits, 0)
    assert is_set(bits, 9)
    assert not is_set(bits, 8)


def test_the_encoded_list_is_multibase_base64url_of_gzip() -> None:
    bits = with_bit_set(with_bit_set(empty_bits(), 94_567), STATUS_LIST_BITS - 1)
    encoded = encode_list(bits)
    assert encoded.startswith("u")
    assert "=" not in encoded
    raw = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
    assert gzip.decompress(raw) == bits
    assert decode_list(encoded) == bits
    assert encode_list(bits) == encoded  # no timestamp in the gzip header


# mtime=0: a parameter must be the same in every pytest-xdist worker (gzip stamps the time).
TOO_SHORT = "u" + base64.urlsafe_b64encode(gzip.compress(b"\0" * 10, mtime=0)).decode()


@pytest.mark.parametrize("encoded", ["z123", "u!!!", TOO_SHORT])
def test_a_list_that_is_not_full_size_gzip_base64url_is_refused(encoded: str) -> None:
    with pytest.raises(ValueError, match="encodedList"):
        decode_list(encoded.rstrip("="))


def test_global_indexes_fill_one_list_after_another() -> None:
    assert locate(0) == StatusEntry(1, 0)
    assert locate(STATUS_LIST_BITS - 1) == StatusEntry(1, STATUS_LIST_BITS - 1)
    assert locate(STATUS_LIST_BITS) == StatusEntry(2, 0)


def test_the_status_list_credential_names_its_purpose_and_list() -> None:
    url = "https://issuer.example.in/v1/status-lists/1"
    credential = status_list_credential(
        list_url=url,
        issuer_id="did:web:issuer.example.in",
        bits=empty_bits(),
        valid_from=dt.datetime(2026, 5, 1, 10, 30, 15, 999, tzinfo=dt.UTC),
    )
    assert credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert credential["validFrom"] == "2026-05-01T10:30:15Z"
    subject = credential["credentialSubject"]
    assert subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == "revocation"
    assert decode_list(subject["encodedList"]) == empty_bits()
