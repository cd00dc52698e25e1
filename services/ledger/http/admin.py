"""Admin: API keys; and the catalog and institutions as the write model knows them.

Institutions and catalog entries are themselves events (InstitutionRegistered,
MicroCredentialDefined, QualificationDefined), written with POST /v1/events by the admin.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody, Parameter

from domain.units import halves_to_level
from proto.envelope import Actor, Role
from proto.types import InstitutionId
from services.common.http.answers import problem_answers
from services.common.http.auth import ANY_ROLE, requires
from services.common.http.bounds import shaped
from services.ledger.api_keys import create_key, list_keys, revoke_key
from services.ledger.errors import unprocessable
from services.ledger.http.problems import RefusedException
from services.ledger.runtime import Runtime
from services.ledger.write_model_store import scope_from_json

ADMIN = requires(Role.ADMIN)
# What services.ledger.api_keys.create_key hands out: 16 hex digits.
KeyId = Annotated[str, Parameter(pattern=r"^[0-9a-f]{16}$", description="The key's id.")]


class NewApiKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: Role
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    institution_id: InstitutionId | None = None


class ApiKeyCreated(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    key: str
    role: Role
    institution_id: str | None
    name: str


class ApiKeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    role: str
    institution_id: str | None
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class AccreditationPeriodView(msgspec.Struct, frozen=True, kw_only=True):
    """One sector up to one NSQF level, for passes assessed in [valid_from, valid_until)."""

    sector: str
    max_level: str
    valid_from: dt.date | None  # null: since ever
    valid_until: dt.date | None  # null: until further notice


class InstitutionView(msgspec.Struct, frozen=True, kw_only=True):
    institution_id: str
    name: str
    kind: str
    # As last registered (InstitutionRegistered); ``accreditation`` is what is judged.
    accredited_sectors: list[str]
    max_level: str
    accredited: bool
    accreditation: list[AccreditationPeriodView]


@post(
    "/v1/admin/api-keys",
    guards=[ADMIN],
    summary="Create an API key (the key is shown once)",
    responses=problem_answers(
        {
            422: "A body of the wrong shape (invalid_body), an institution key without its"
            " institution or another key with one (bad_key_request), or an institution that"
            " is not registered (institution_unknown)."
        }
    ),
)
async def create_api_key(data: JSONBody[NewApiKey], runtime: Runtime) -> ApiKeyCreated:
    if data.role is Role.LEARNER:
        raise RefusedException(
            unprocessable(
                "a learner has no API key: ask for a passbook link"
                " (POST /v1/learners/{learner_id}/passbook-links)",
                "bad_key_request",
            )
        )
    if (data.role is Role.INSTITUTION) != (data.institution_id is not None):
        raise RefusedException(
            unprocessable(
                "institution keys name their institution_id; other roles name none",
                "bad_key_request",
            )
        )
    if data.institution_id is not None:
        known = await runtime.pool.fetchval(
            "SELECT 1 FROM ledger.institutions WHERE institution_id = $1", data.institution_id
        )
        if known is None:
            raise RefusedException(
                unprocessable(
                    f"institution {data.institution_id} is not registered", "institution_unknown"
                )
            )
    issued = await create_key(
        runtime.pool, role=data.role, name=data.name, institution_id=data.institution_id
    )
    return ApiKeyCreated(
        key_id=issued.key_id,
        key=issued.token,
        role=issued.role,
        institution_id=issued.institution_id,
        name=issued.name,
    )


@get("/v1/admin/api-keys", guards=[ADMIN], summary="List API keys (never their secrets)")
async def get_api_keys(runtime: Runtime) -> list[ApiKeyInfo]:
    return [ApiKeyInfo(**dict(r)) for r in await list_keys(runtime.pool)]


@delete(
    "/v1/admin/api-keys/{key_id:str}",
    guards=[ADMIN],
    summary="Revoke an API key",
    status_code=204,
    responses=problem_answers({404: "No active key with this id."}),
)
async def delete_api_key(key_id: KeyId, runtime: Runtime) -> None:
    if not await revoke_key(runtime.pool, key_id):
        raise NotFoundException(f"no active key {key_id}")


def _institution(row: Any) -> InstitutionView:
    return InstitutionView(
        institution_id=row["institution_id"],
        name=row["name"],
        kind=row["kind"],
        accredited_sectors=list(row["accredited_sectors"]),
        max_level=halves_to_level(row["max_level_halves"]),
        accredited=row["accredited"],
        accreditation=[
            AccreditationPeriodView(
                sector=p.sector,
                max_level=halves_to_level(p.max_level_halves),
                valid_from=p.valid_from,
                valid_until=p.valid_until,
            )
            for p in scope_from_json(row["accreditation"])
        ],
    )


@get(
    "/v1/institutions", guards=[ANY_ROLE], summary="Registered institutions and their accreditation"
)
async def get_institutions(runtime: Runtime) -> list[InstitutionView]:
    rows = await runtime.pool.fetch("SELECT * FROM ledger.institutions ORDER BY institution_id")
    return [_institution(r) for r in rows]


@get(
    "/v1/institutions/{institution_id:str}",
    guards=[ANY_ROLE],
    summary="One institution",
    responses=problem_answers({404: "No institution with this id is registered."}),
)
async def get_institution(
    institution_id: Annotated[str, shaped(InstitutionId)], runtime: Runtime
) -> InstitutionView:
    row = await runtime.pool.fetchrow(
        "SELECT * FROM ledger.institutions WHERE institution_id = $1", institution_id
    )
    if row is None:
        raise NotFoundException(f"no institution {institution_id}")
    return _institution(row)


@get(
    "/v1/catalog/micro-credentials",
    guards=[ANY_ROLE],
    summary="The current definition of every micro-credential",
)
async def get_micro_credentials(runtime: Runtime) -> list[dict[str, Any]]:
    rows = await runtime.pool.fetch("SELECT definition FROM ledger.micro_credentials ORDER BY code")
    return [r["definition"] for r in rows]


@get(
    "/v1/catalog/qualifications",
    guards=[ANY_ROLE],
    summary="The current definition (stacking rule) of every qualification",
)
async def get_qualifications(runtime: Runtime) -> list[dict[str, Any]]:
    rows = await runtime.pool.fetch("SELECT definition FROM ledger.qualifications ORDER BY code")
    return [r["definition"] for r in rows]


@get("/v1/whoami", guards=[ANY_ROLE], summary="The role and institution of the calling key")
async def whoami(request: Request[Actor, Any, Any]) -> Actor:
    # Other services (the projector's query API) authenticate callers by asking this.
    return request.user
