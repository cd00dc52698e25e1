"""What every service's HTTP API shares: where the ledger listens (the other services'
ports derive from it), the body limit, and the one API-key cache TTL."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from services.common.settings.env import env_float, env_int


class HttpSettings(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int
    public_base_url: str
    request_body_max_bytes: int
    # How long a key lookup is cached: by the ledger (its own table) and by the projector
    # and the issuer (the ledger's /v1/whoami). One value, so a revoked key stops working
    # on every service within it.
    api_key_cache_ttl_s: float


def read(env: Mapping[str, str]) -> HttpSettings:
    host = env.get("CREDIT_LEDGER_HTTP_HOST") or "127.0.0.1"
    port = env_int(env, "CREDIT_LEDGER_HTTP_PORT", 8000, 0, 65535)
    return HttpSettings(
        host=host,
        port=port,
        public_base_url=(env.get("CREDIT_LEDGER_PUBLIC_URL") or f"http://{host}:{port}").rstrip(
            "/"
        ),
        request_body_max_bytes=env_int(
            env, "CREDIT_LEDGER_REQUEST_BODY_MAX_BYTES", 2 * 1024 * 1024, 1024, 64 * 1024 * 1024
        ),
        api_key_cache_ttl_s=env_float(env, "CREDIT_LEDGER_API_KEY_CACHE_TTL_S", 2.0, 0.0, 300.0),
    )
