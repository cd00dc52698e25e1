"""JWS compact signing and verification over ``cryptography``: RS256, ES256, EdDSA only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import pytest

from services.issuer.credentials.jws import (
    JwsError,
    PublicKey,
    b64url_decode,
    b64url_encode,
    encode_compact,
    parse_compact,
    verify_compact,
)
from services.issuer.credentials.keys import generate_key

ALGS = ["RS256", "ES256", "EdDSA"]


def _key_for(key: PublicKey) -> Any:
    def key_for(_: Mapping[str, Any]) -> PublicKey:
        return key

    return key_for


@pytest.mark.parametrize("alg", ALGS)
def test_a_signed_token_verifies_under_its_own_key(alg: Any) -> None:
    key = generate_key(alg)
    token = encode_compact({"alg": alg, "typ": "JWT"}, b'{"hello":"world"}', key)
    parsed = verify_compact(token, _key_for(key.public_key()))
    assert parsed.payload == b'{"hello":"world"}'
    assert parsed.header == {"alg": alg, "typ": "JWT"}


def test_es256_signatures_are_raw_r_and_s_of_32_bytes_each() -> None:
    key = generate_key("ES256")
    token = encode_compact({"alg": "ES256"}, b"{}", key)
    assert len(parse_compact(token).signature) == 64


@pytest.mark.parametrize("alg", ALGS)
def test_a_tampered_payload_is_refused(alg: Any) -> None:
    key = generate_key(alg)
    header, _, signature = encode_compact({"alg": alg}, b'{"credits":12}', key).split(".")
    forged_payload = b64url_encode(b'{"credits":99}')
    forged = f"{header}.{forged_payload}.{signature}"
    with pytest.raises(JwsError, match="signature does not match"):
        verify_compact(forged, _key_for(key.public_key()))


def test_another_key_of_the_same_kind_is_refused() -> None:
    token = encode_compact({"alg": "EdDSA"}, b"{}", generate_key("EdDSA"))
    with pytest.raises(JwsError, match="signature does not match"):
        verify_compact(token, _key_for(generate_key("EdDSA").public_key()))


def test_alg_none_is_never_accepted() -> None:
    header = b64url_encode(msgspec.json.encode({"alg": "none", "typ": "JWT"}))
    unsigned = f"{header}.{b64url_encode(b'{}')}.AA"
    with pytest.raises(JwsError, match="'none' is never accepted"):
        verify_compact(unsigned, _key_for(generate_key("EdDSA").public_key()))


def test_a_header_alg_that_does_not_match_the_key_is_refused() -> None:
    rsa = generate_key("RS256")
    token = encode_compact({"alg": "RS256"}, b"{}", rsa)
    with pytest.raises(JwsError, match="does not match the key"):
        verify_compact(token, _key_for(generate_key("ES256").public_key()))
    with pytest.raises(JwsError, match="does not match"):
        encode_compact({"alg": "ES256"}, b"{}", rsa)


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ({"alg": "HS256"}, "not accepted"),
        ({"alg": "RS256", "crit": ["b64"]}, "critical"),
        ({"alg": "RS256", "typ": "vc+ld+json"}, "typ"),
        ({"typ": "JWT"}, "no alg"),
    ],
)
def test_headers_we_do_not_understand_are_refused(header: dict[str, Any], error: str) -> None:
    token = f"{b64url_encode(msgspec.json.encode(header))}.{b64url_encode(b'{}')}.AA"
    with pytest.raises(JwsError, match=error):
        verify_compact(token, _key_for(generate_key("RS256").public_key()))


@pytest.mark.parametrize(
    "token", ["", "a.b", "a.b.c.d", "a..c", "e30=.e30.AA", "e30.e30.A+A", "bm90IGpzb24.e30.AA"]
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(JwsError):
        parse_compact(token)


def test_base64url_round_trips_without_padding() -> None:
    for data in (b"", b"f", b"fo", b"foo", bytes(range(256))):
        encoded = b64url_encode(data)
        assert "=" not in encoded
        assert b64url_decode(encoded) == data
