"""Settings are read once, typed, one struct per concern under one loader, and refuse
nonsense with a clear message."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import msgspec
import pytest

from services.common.settings import (
    AuditSettings,
    HttpSettings,
    InfraSettings,
    IssuerSettings,
    LedgerSettings,
    LogSettings,
    ProjectorSettings,
    Settings,
    SettingsError,
    load_settings,
)
from services.issuer.app import create_issuer_app
from services.ledger.app import create_app
from services.projector.app import create_projector_app

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.infra.database_url is None
    assert settings.infra.nats_url is None
    assert settings.infra.data_dir == Path(".data").resolve()
    assert settings.infra.db_pool_size == 10
    assert settings.log.level == "info"
    assert settings.log.format == "auto"
    assert settings.http.host == "127.0.0.1"
    assert settings.http.port == 8000
    assert settings.http.public_base_url == "http://127.0.0.1:8000"
    assert settings.ledger.batch_events_max == 1000
    assert settings.ledger.learner_id_pattern == r"^[0-9]{12}$"
    assert settings.ledger.url == "http://127.0.0.1:8000"
    assert settings.projector.port == 8001
    assert settings.projector.api_key is None
    assert settings.audit.url == "http://127.0.0.1:8000"
    assert settings.issuer.port == 8002


def test_the_one_loader_reads_every_concern() -> None:
    concerns = {
        "infra": InfraSettings,
        "log": LogSettings,
        "http": HttpSettings,
        "ledger": LedgerSettings,
        "projector": ProjectorSettings,
        "audit": AuditSettings,
        "issuer": IssuerSettings,
    }
    assert Settings.__struct_fields__ == tuple(concerns)
    settings = load_settings(
        {"CREDIT_LEDGER_ISSUER_ALG": "ES256", "CREDIT_LEDGER_LOG_LEVEL": "debug"}
    )
    for name, kind in concerns.items():
        assert type(getattr(settings, name)) is kind
    assert settings.issuer.alg == "ES256"
    assert settings.log.level == "debug"


def test_derived_defaults_follow_what_they_derive_from() -> None:
    settings = load_settings(
        {
            "CREDIT_LEDGER_HTTP_HOST": "10.0.0.5",
            "CREDIT_LEDGER_HTTP_PORT": "9000",
            "CREDIT_LEDGER_LEDGER_URL": "http://ledger.internal:9000/",
        }
    )
    assert settings.http.public_base_url == "http://10.0.0.5:9000"
    assert settings.projector.port == 9001
    assert settings.issuer.port == 9002
    assert settings.issuer.public_url == "http://10.0.0.5:9002"
    assert settings.ledger.url == "http://ledger.internal:9000"
    assert settings.audit.url == "http://ledger.internal:9000"
    ephemeral = load_settings({"CREDIT_LEDGER_HTTP_PORT": "0"})
    assert (ephemeral.projector.port, ephemeral.issuer.port) == (0, 0)


def test_the_key_cache_ttl_is_one_setting_for_all_three_services() -> None:
    assert load_settings({}).http.api_key_cache_ttl_s == 2.0
    assert (
        load_settings({"CREDIT_LEDGER_API_KEY_CACHE_TTL_S": "0.5"}).http.api_key_cache_ttl_s == 0.5
    )
    for factory in (create_app, create_projector_app, create_issuer_app):
        assert "settings.http.api_key_cache_ttl_s" in inspect.getsource(factory)
    # No other struct holds a TTL, and no other variable names one.
    settings = load_settings({})
    for concern in Settings.__struct_fields__:
        fields = type(getattr(settings, concern)).__struct_fields__
        ttls = [field for field in fields if "ttl" in field]
        assert ttls == (["api_key_cache_ttl_s"] if concern == "http" else [])
    sources = "".join(
        path.read_text() for path in (REPO_ROOT / "services/common/settings").glob("*.py")
    )
    assert set(re.findall(r'"(CREDIT_LEDGER_\w*TTL\w*)"', sources)) == {
        "CREDIT_LEDGER_API_KEY_CACHE_TTL_S"
    }


def test_concerns_can_be_replaced_one_at_a_time() -> None:
    settings = load_settings({})
    changed = msgspec.structs.replace(
        settings, infra=msgspec.structs.replace(settings.infra, database_url="postgresql://x")
    )
    assert changed.infra.database_url == "postgresql://x"
    assert changed.ledger == settings.ledger


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CREDIT_LEDGER_HTTP_PORT", "eighty", "integer"),
        ("CREDIT_LEDGER_BATCH_EVENTS_MAX", "0", "between"),
        ("CREDIT_LEDGER_RELAY_ENABLED", "maybe", "true or false"),
        ("CREDIT_LEDGER_LOG_FORMAT", "xml", "one of"),
        ("CREDIT_LEDGER_LEARNER_ID_PATTERN", "([", "regex"),
        ("CREDIT_LEDGER_API_KEY_CACHE_TTL_S", "301", "between"),
        ("CREDIT_LEDGER_PROJECTOR_PORT", "65536", "between"),
        ("CREDIT_LEDGER_ISSUER_ALG", "HS256", "one of"),
    ],
)
def test_bad_values_are_refused_by_name(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        load_settings({name: value})
    assert name in str(raised.value)


@pytest.mark.parametrize(
    ("configured", "terminal", "used"),
    [
        ("auto", True, "console"),
        ("auto", False, "json"),
        ("json", True, "json"),
        ("console", False, "console"),
    ],
)
def test_the_log_format_follows_the_terminal_unless_set(
    configured: str, terminal: bool, used: str
) -> None:
    from services.common.logs import resolved_format

    assert resolved_format(configured, terminal) == used
