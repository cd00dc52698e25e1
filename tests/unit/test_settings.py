"""Settings are read once, typed, and refuse nonsense with a clear message."""

from __future__ import annotations

import pytest

from services.common.settings import SettingsError, load_settings


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.database_url is None
    assert settings.batch_events_max == 1000
    assert settings.learner_id_pattern == r"^[0-9]{12}$"
    assert settings.public_base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CREDIT_LEDGER_HTTP_PORT", "eighty", "integer"),
        ("CREDIT_LEDGER_BATCH_EVENTS_MAX", "0", "between"),
        ("CREDIT_LEDGER_RELAY_ENABLED", "maybe", "true or false"),
        ("CREDIT_LEDGER_LOG_FORMAT", "xml", "one of"),
        ("CREDIT_LEDGER_LEARNER_ID_PATTERN", "([", "regex"),
    ],
)
def test_bad_values_are_refused_by_name(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        load_settings({name: value})
    assert name in str(raised.value)
