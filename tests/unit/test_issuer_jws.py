"""JWS compact signing and verification through joserfc: RS256, ES256, EdDSA only, and the
refusals the issuer's policy adds (none, a mismatched key, a wrong key, unknown headers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes, hmac
from joserfc import jws as joserfc_jws
from joserfc.jwk import ECKey, OctKey

from services.issuer.credentials.jws import (
    JwsError,
    SigningKey,
    b64url_decode,
    b64url_encode,
    encode_compact,
    parse_compact,
    signature_holds,
    verify_compact,
)
from services.issuer.credentials.keys import generate_key, public_jwk_members, public_key_of_jwk

ALGS = ["RS256", "ES256", "EdDSA"]


def _public(key: SigningKey) -> SigningKey:
    return public_key_of_jwk(public_jwk_members(key))


def _key_for(key: SigningKey) -> Any:
    def key_for(_: Mapping[str, Any]) -> SigningKey:
        return key

    return key_for


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize("alg", ALGS)
def test_a_signed_token_verifies_under_its_own_key(alg: Any) -> None:
    key = generate_key(alg)
    token = encode_compact({"alg": alg, "typ": "JWT"}, b'{"hello":"world"}', key)
    parsed = verify_compact(token, _key_for(_public(key)))
    assert parsed.payload == b'{"hello":"world"}'
    assert parsed.header == {"alg": alg, "typ": "JWT"}
    # joserfc itself, called directly, agrees with the wrapper.
    assert joserfc_jws.deserialize_compact(token, _public(key), algorithms=[alg]).payload == (
        b'{"hello":"world"}'
    )


def test_es256_signatures_are_raw_r_and_s_of_32_bytes_each() -> None:
    key = generate_key("ES256")
    token = encode_compact({"alg": "ES256"}, b"{}", key)
    assert len(b64url_decode(token.split(".")[2])) == 64


@pytest.mark.parametrize("alg", ALGS)
def test_a_tampered_payload_is_refused(alg: Any) -> None:
    key = generate_key(alg)
    header, _, signature = encode_compact({"alg": alg}, b'{"credits":12}', key).split(".")
    forged_payload = b64url_encode(b'{"credits":99}')
    forged = f"{header}.{forged_payload}.{signature}"
    with pytest.raises(JwsError, match="signature does not match"):
        verify_compact(forged, _key_for(_public(key)))


@pytest.mark.parametrize("alg", ALGS)
def test_another_key_of_the_same_kind_is_refused(alg: Any) -> None:
    token = encode_compact({"alg": alg}, b"{}", generate_key(alg))
    stranger = _public(generate_key(alg))
    assert not signature_holds(token, stranger)
    with pytest.raises(JwsError, match="signature does not match"):
        verify_compact(token, _key_for(stranger))


def test_alg_none_is_never_accepted() -> None:
    header = b64url_encode(msgspec.json.encode({"alg": "none", "typ": "JWT"}))
    unsigned = f"{header}.{b64url_encode(b'{}')}.AA"
    with pytest.raises(JwsError, match="'none' is never accepted"):
        verify_compact(unsigned, _key_for(_public(generate_key("EdDSA"))))
    # Even bypassing the header policy, the library refuses it: none is not an algorithm here.
    assert not signature_holds(f"{header}.{b64url_encode(b'{}')}.AA", generate_key("EdDSA"))


def test_a_header_alg_that_does_not_match_the_key_is_refused() -> None:
    rsa = generate_key("RS256")
    token = encode_compact({"alg": "RS256"}, b"{}", rsa)
    with pytest.raises(JwsError, match="does not match the key"):
        verify_compact(token, _key_for(_public(generate_key("ES256"))))
    # The library's own key/algorithm binding: an RS256 token under an EC key never holds.
    assert not signature_holds(token, _public(generate_key("ES256")))
    with pytest.raises(JwsError, match="does not match"):
        encode_compact({"alg": "ES256"}, b"{}", rsa)


def test_hmac_with_the_public_key_as_secret_is_refused() -> None:
    """The classic confusion: HS256 keyed with the bytes of the issuer's public key."""
    key = generate_key("RS256")
    public_pem = _public(key).as_pem()
    header = b64url_encode(msgspec.json.encode({"alg": "HS256", "typ": "JWT"}))
    signing_input = f"{header}.{b64url_encode(b'{}')}".encode()
    mac = hmac.HMAC(public_pem, hashes.SHA256())
    mac.update(signing_input)
    forged = f"{signing_input.decode()}.{b64url_encode(mac.finalize())}"
    with pytest.raises(JwsError, match="not accepted"):
        verify_compact(forged, _key_for(_public(key)))
    assert not signature_holds(forged, _public(key))
    # joserfc will not even make an HMAC secret of a public key.
    with pytest.raises(ValueError, match="must not be used as oct keys"):
        OctKey.import_key(public_pem)


def test_a_public_key_cannot_sign() -> None:
    with pytest.raises(JwsError, match="private key"):
        encode_compact({"alg": "EdDSA"}, b"{}", _public(generate_key("EdDSA")))


def test_a_p384_key_is_not_an_es256_key() -> None:
    with pytest.raises(JwsError, match="P-256"):
        encode_compact({"alg": "ES256"}, b"{}", ECKey.generate_key("P-384"))


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
        verify_compact(token, _key_for(_public(generate_key("RS256"))))


def test_a_header_member_joserfc_does_not_know_fails_the_signature() -> None:
    key = generate_key("EdDSA")
    header = b64url_encode(msgspec.json.encode({"alg": "EdDSA", "x-unknown": 1}))
    payload = b64url_encode(b"{}")
    token = encode_compact({"alg": "EdDSA"}, b"{}", key)
    relabelled = f"{header}.{payload}.{token.split('.')[2]}"
    assert not signature_holds(relabelled, _public(key))


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
