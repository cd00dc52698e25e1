"""The issuer's settings: read once from CREDIT_LEDGER_ISSUER_* (by the one loader, as
``Settings.issuer``), refused when malformed."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import SettingsError, load_settings
from services.issuer.credentials.keys import DEV_SALT_FILE, ensure_dev_salt


def test_defaults_sign_rs256_and_listen_two_ports_above_the_ledger() -> None:
    settings = load_settings({"CREDIT_LEDGER_HTTP_PORT": "9000"}).issuer
    assert settings.alg == "RS256"
    assert settings.port == 9002
    assert settings.public_url == "http://127.0.0.1:9002"
    assert settings.dead_letter_max_deliveries == 10
    assert settings.key_file is None
    assert not settings.faults.crash_after_award_append


def test_every_variable_is_read(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "CREDIT_LEDGER_ISSUER_KEY_FILE": str(tmp_path / "keys.json"),
            "CREDIT_LEDGER_ISSUER_ALG": "EdDSA",
            "CREDIT_LEDGER_ISSUER_PUBLIC_URL": "https://issuer.example.in/",
            "CREDIT_LEDGER_ISSUER_API_KEY": "key",
            "CREDIT_LEDGER_ISSUER_LEARNER_HASH_SALT": "a-long-enough-secret-salt",
            "CREDIT_LEDGER_ISSUER_DEAD_LETTER_MAX_DELIVERIES": "3",
            "CREDIT_LEDGER_ISSUER_ACK_WAIT_S": "5",
            "CREDIT_LEDGER_ISSUER_FAULT_SKIP_FIRST_ACK": "true",
        }
    ).issuer
    assert settings.key_file == tmp_path / "keys.json"
    assert settings.alg == "EdDSA"
    assert settings.public_url == "https://issuer.example.in"
    assert settings.api_key == "key"
    assert settings.learner_hash_salt == "a-long-enough-secret-salt"
    assert settings.dead_letter_max_deliveries == 3
    assert settings.ack_wait_s == 5.0
    assert settings.faults.skip_first_ack


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CREDIT_LEDGER_ISSUER_ALG", "HS256"),
        ("CREDIT_LEDGER_ISSUER_LEARNER_HASH_SALT", "short"),
        ("CREDIT_LEDGER_ISSUER_DEAD_LETTER_MAX_DELIVERIES", "0"),
        ("CREDIT_LEDGER_ISSUER_ACK_WAIT_S", "soon"),
        ("CREDIT_LEDGER_ISSUER_FAULT_CRASH_AFTER_AWARD", "maybe"),
    ],
)
def test_malformed_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_the_dev_salt_is_made_once_and_is_long_enough(tmp_path: Path) -> None:
    salt = ensure_dev_salt(tmp_path)
    assert ensure_dev_salt(tmp_path) == salt
    assert load_settings({"CREDIT_LEDGER_ISSUER_LEARNER_HASH_SALT": salt}).issuer.learner_hash_salt


def test_a_dev_salt_file_too_short_is_refused(tmp_path: Path) -> None:
    (tmp_path / DEV_SALT_FILE).write_text("short\n")
    with pytest.raises(SettingsError, match="at least 16 characters"):
        ensure_dev_salt(tmp_path)
