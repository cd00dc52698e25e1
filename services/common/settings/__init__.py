"""Typed settings, one struct per concern, read once from the environment by one loader
(``load_settings``) and passed in explicitly.

``Settings.infra`` (stores), ``.log``, ``.http`` (shared by every service's API, with the
one API-key cache TTL), ``.ledger``, ``.projector``, ``.audit`` and ``.issuer``. Every
variable is documented in README.md ("Configuration"); keep the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

from services.common.settings import audit, infrastructure, issuer, ledger, log, projector, serving
from services.common.settings.audit import AuditSettings
from services.common.settings.env import (
    SettingsError,
    env_bool,
    env_choice,
    env_float,
    env_int,
)
from services.common.settings.infrastructure import InfraSettings
from services.common.settings.issuer import ALGS, SALT_MIN_CHARS, Alg, Faults, IssuerSettings
from services.common.settings.ledger import LedgerSettings
from services.common.settings.log import LogSettings
from services.common.settings.projector import ProjectorSettings
from services.common.settings.serving import HttpSettings

__all__ = [
    "ALGS",
    "SALT_MIN_CHARS",
    "Alg",
    "AuditSettings",
    "Faults",
    "HttpSettings",
    "InfraSettings",
    "IssuerSettings",
    "LedgerSettings",
    "LogSettings",
    "ProjectorSettings",
    "Settings",
    "SettingsError",
    "env_bool",
    "env_choice",
    "env_float",
    "env_int",
    "load_settings",
]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    infra: InfraSettings
    log: LogSettings
    http: HttpSettings
    ledger: LedgerSettings
    projector: ProjectorSettings
    audit: AuditSettings
    issuer: IssuerSettings


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every concern's settings from ``env`` (default: the process environment), once."""
    env = os.environ if env is None else env
    http = serving.read(env)
    ledger_settings = ledger.read(env, http)
    return Settings(
        infra=infrastructure.read(env),
        log=log.read(env),
        http=http,
        ledger=ledger_settings,
        projector=projector.read(env, http),
        audit=audit.read(env, ledger_settings),
        issuer=issuer.read(env, http),
    )
