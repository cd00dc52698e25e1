"""The tree-signing key: PEM files in and out, and key ids that anyone can recompute."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from services.common.settings import SettingsError, load_settings
from services.ledger.audit.signing import (
    SigningKeyError,
    create_key_file,
    key_id_of,
    load_signer,
    signer_from_key,
)

# RFC 8037 Appendix A.1 (the Ed25519 key) and A.3 (its RFC 7638 thumbprint).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def _rfc8037_key() -> Ed25519PrivateKey:
    raw = base64.urlsafe_b64decode(RFC8037_D + "=")
    return Ed25519PrivateKey.from_private_bytes(raw)


def test_the_key_id_is_the_rfc_7638_thumbprint_of_rfc_8037() -> None:
    signer = signer_from_key(_rfc8037_key())
    assert signer.public_jwk()["x"] == RFC8037_X
    assert key_id_of(signer.public_key) == RFC8037_THUMBPRINT
    assert signer.key_id == RFC8037_THUMBPRINT


def test_a_new_key_file_loads_back_as_the_same_signer(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "tree.pem"
    created = create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_signer(path).key_id == created.key_id


def test_a_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "tree.pem"
    create_key_file(path)
    with pytest.raises(FileExistsError):
        create_key_file(path)


def test_a_key_that_is_not_an_unencrypted_ed25519_key_is_refused(tmp_path: Path) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ec.pem").write_bytes(
        ec_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    (tmp_path / "locked.pem").write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"secret")
        )
    )
    (tmp_path / "junk.pem").write_bytes(b"not a key")
    for name, message in [
        ("ec.pem", "not an Ed25519 key"),
        ("locked.pem", "not an unencrypted PEM"),
        ("junk.pem", "not an unencrypted PEM"),
        ("missing.pem", "cannot read"),
    ]:
        with pytest.raises(SigningKeyError, match=message):
            load_signer(tmp_path / name)


def test_the_audit_settings_have_documented_defaults() -> None:
    settings = load_settings({"CREDIT_LEDGER_LEDGER_URL": "http://ledger:8000/"}).audit
    assert settings.tree_signing_key_file is None
    assert settings.tree_head_interval_s == 60.0
    assert settings.tree_builder_enabled is True
    assert settings.tree_batch_max == 5000
    assert settings.url == "http://ledger:8000"
    assert settings.api_key is None
    other = load_settings(
        {
            "CREDIT_LEDGER_AUDIT_URL": "https://audit.example/",
            "CREDIT_LEDGER_TREE_SIGNING_KEY_FILE": "k.pem",
        }
    ).audit
    assert other.url == "https://audit.example"
    assert other.tree_signing_key_file == Path("k.pem").resolve()


@pytest.mark.parametrize(
    ("name", "value"),
    [("CREDIT_LEDGER_TREE_HEAD_INTERVAL_S", "0"), ("CREDIT_LEDGER_TREE_BATCH_MAX", "0")],
)
def test_bad_audit_settings_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_the_dev_stack_makes_a_signing_key_once_and_keeps_it(tmp_path: Path) -> None:
    from credit_ledger.devstack import tree_signing_key

    settings = load_settings({"CREDIT_LEDGER_DATA_DIR": str(tmp_path)})
    first = tree_signing_key(settings)
    assert first.parent == tmp_path
    key_id = load_signer(first).key_id
    assert tree_signing_key(settings) == first
    assert load_signer(first).key_id == key_id
    configured = load_settings({"CREDIT_LEDGER_TREE_SIGNING_KEY_FILE": str(tmp_path / "own.pem")})
    assert tree_signing_key(configured) == tmp_path / "own.pem"
