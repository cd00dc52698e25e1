"""How a process logs (services/common/logs.py applies these)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from services.common.settings.env import env_choice


class LogSettings(msgspec.Struct, frozen=True, kw_only=True):
    level: str
    format: str


def read(env: Mapping[str, str]) -> LogSettings:
    return LogSettings(
        level=env_choice(
            env, "CREDIT_LEDGER_LOG_LEVEL", "info", {"debug", "info", "warning", "error"}
        ),
        # auto: readable lines when stderr is a terminal, JSON lines otherwise.
        format=env_choice(env, "CREDIT_LEDGER_LOG_FORMAT", "auto", {"auto", "json", "console"}),
    )
