"""Reading one environment variable: typed, range-checked, refused by name when malformed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar


class SettingsError(ValueError):
    """A configuration variable is missing or malformed."""


N = TypeVar("N", int, float)


def _env_number(
    env: Mapping[str, str], name: str, default: N, lo: N, hi: N, parse: type[N], kind: str
) -> N:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be {kind}, got {raw!r}") from exc
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def env_int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    return _env_number(env, name, default, lo, hi, int, "an integer")


def env_float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    return _env_number(env, name, default, lo, hi, float, "a number")


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def env_choice(env: Mapping[str, str], name: str, default: str, choices: set[str]) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise SettingsError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value
