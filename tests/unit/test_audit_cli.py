"""The ``credit-ledger audit`` command line: arguments, and refusals before any work."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from credit_ledger.audit_cli import UsageError, keygen_command, parse_as_of
from credit_ledger.cli import main


def test_as_of_is_a_position_or_a_time_with_a_zone() -> None:
    assert parse_as_of(None) is None
    assert parse_as_of("57") == 57
    assert parse_as_of("2026-03-01T00:00:00Z") == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    moment = parse_as_of("2026-03-01T05:30:00+05:30")
    assert isinstance(moment, dt.datetime)
    assert moment == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    for text in ("2026-03-01T00:00:00", "yesterday", "-3"):
        with pytest.raises(UsageError):
            parse_as_of(text)


def test_replay_needs_an_auditor_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDIT_LEDGER_AUDIT_API_KEY", raising=False)
    assert main(["audit", "replay", "--learner", "123456789012"]) == 2


def test_a_bad_as_of_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_LEDGER_AUDIT_API_KEY", "clk_x")
    assert main(["audit", "replay", "--learner", "123456789012", "--as-of", "soon"]) == 2


def test_verify_needs_a_database_or_an_existing_export(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["audit", "verify"]) == 2
    assert main(["audit", "verify", "--file", str(tmp_path / "missing.ndjson")]) == 2
    empty = tmp_path / "empty.ndjson"
    empty.write_bytes(b"")
    assert main(["audit", "verify", "--file", str(empty)]) == 0


def test_keygen_writes_a_key_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tree.pem"
    assert keygen_command(path) == 0
    assert keygen_command(path) == 2
    assert "key id" in capsys.readouterr().out
