"""A learner's credentials, for callers with a ledger key of the admin, auditor or issuer
role (institutions see only their own records, and these are not theirs)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from proto.envelope import Actor, Role
from proto.types import LearnerId
from services.common.http.answers import problem_answers
from services.common.http.auth import ledger_key_auth, requires
from services.common.http.bounds import shaped
from services.common.openapi import REQUIRES_API_KEY
from services.issuer import store
from services.issuer.credentials.jws import parse_compact
from services.issuer.runtime import Runtime

CREDENTIALS_PAGE_MAX = 500


class CredentialView(msgspec.Struct, frozen=True, kw_only=True):
    credential_id: str
    award_id: str
    qualification_code: str
    qualification_version: int
    award_generation: int
    status: str
    valid_from: dt.datetime
    issued_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    key_id: str
    credential_url: str
    jwt: str
    credential: msgspec.Raw


class LearnerCredentials(msgspec.Struct, frozen=True, kw_only=True):
    learner_id: str
    credentials: list[CredentialView]


@get(
    "/v1/learners/{learner_id:str}/credentials",
    summary="A learner's credentials, revoked ones included, oldest award first",
    description="A learner's passbook link reads only that learner's own credentials.",
    guards=[requires(Role.ADMIN, Role.AUDITOR, Role.ISSUER, Role.LEARNER)],
    middleware=[ledger_key_auth()],
    security=REQUIRES_API_KEY,
    responses=problem_answers({404: "A learner's link asking for another learner's credentials."}),
)
async def learner_credentials(
    request: Request[Actor, Any, Any],
    learner_id: Annotated[str, shaped(LearnerId)],
    runtime: Runtime,
    limit: Annotated[int, Parameter(ge=1, le=CREDENTIALS_PAGE_MAX)] = 100,
) -> LearnerCredentials:
    actor = request.user
    if actor.role is Role.LEARNER and actor.learner_id != learner_id:
        raise NotFoundException(f"no credentials of learner {learner_id} this learner may read")
    async with runtime.ctx.pool.acquire() as conn:
        rows = await store.credentials_of(conn, learner_id, limit)
    return LearnerCredentials(
        learner_id=learner_id,
        credentials=[
            CredentialView(
                credential_id=f"urn:uuid:{row.credential_id}",
                award_id=row.award_id,
                qualification_code=row.qualification_code,
                qualification_version=row.qualification_version,
                award_generation=row.award_generation,
                status="revoked" if row.revoked_at else "active",
                valid_from=row.valid_from,
                issued_at=row.issued_at,
                revoked_at=row.revoked_at,
                revocation_reason=row.revocation_reason,
                key_id=row.key_id,
                credential_url=runtime.ctx.credential_url(row.credential_id),
                jwt=row.jwt,
                credential=msgspec.Raw(parse_compact(row.jwt).payload),
            )
            for row in rows
        ],
    )
