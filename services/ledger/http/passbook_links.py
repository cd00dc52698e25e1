"""Passbook links: an institution that recorded a learner, or an admin, asks for the
learner's link and hands it over; its requester, an admin or the learner revokes it
(``services/ledger/passbook_links.py``)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Request, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody, Parameter

from proto.envelope import Actor, Role
from proto.types import LearnerId
from services.common.http.answers import problem_answers
from services.common.http.auth import requires
from services.common.http.bounds import shaped
from services.ledger.errors import unprocessable
from services.ledger.http.problems import RefusedException
from services.ledger.passbook_links import LinkRecord, may_manage
from services.ledger.runtime import LedgerRuntime, Runtime

REQUESTERS = requires(Role.INSTITUTION, Role.ADMIN)
MANAGERS = requires(Role.INSTITUTION, Role.ADMIN, Role.LEARNER)
LinkId = Annotated[str, Parameter(pattern=r"^[0-9a-f]{16}$", description="The link's id.")]
LINK_DAYS_MAX = 30


class NewPassbookLink(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    valid_days: (
        Annotated[
            int,
            msgspec.Meta(ge=1, le=LINK_DAYS_MAX, description="Days the link works (default 7)."),
        ]
        | None
    ) = None


class PassbookLinkIssued(msgspec.Struct, frozen=True, kw_only=True):
    link_id: str
    learner_id: str
    url: str  # the passbook page, signed in by this link: hand it to the learner
    token: str  # the link's bearer token (also in url)
    expires_at: dt.datetime


async def _check_learner(runtime: LedgerRuntime, actor: Actor, learner_id: str) -> None:
    """An institution asks only for learners it recorded (another learner is a 404, as
    unknown learners are: whether a learner exists does not leak); a learner id the ledger
    would never accept is a 422."""
    if re.fullmatch(runtime.settings.ledger.learner_id_pattern, learner_id) is None:
        raise RefusedException(
            unprocessable(f"{learner_id!r} is not a learner id", "invalid_parameter")
        )
    if actor.role is Role.INSTITUTION:
        recorded = await runtime.pool.fetchval(
            "SELECT 1 FROM ledger.assessments WHERE institution_id = $1 AND learner_id = $2"
            " LIMIT 1",
            actor.institution_id,
            learner_id,
        )
        if recorded is None:
            raise NotFoundException(f"no learner {learner_id} among this institution's records")


@post(
    "/v1/learners/{learner_id:str}/passbook-links",
    guards=[REQUESTERS],
    summary="Ask for a learner's passbook link (shown once)",
    description=(
        "The link signs the learner in to their passbook on the issuer, as the `learner`"
        " role, for `valid_days` (default CREDIT_LEDGER_PASSBOOK_LINK_DAYS). An institution"
        " may ask only for a learner it recorded a pass for. Hand the `url` to the learner"
        " (SMS and email are not the ledger's)."
    ),
    responses=problem_answers(
        {404: "The institution recorded nothing for this learner (or no such learner)."}
    ),
    status_code=201,
)
async def create_passbook_link(
    request: Request[Actor, Any, Any],
    learner_id: Annotated[str, shaped(LearnerId)],
    runtime: Runtime,
    data: JSONBody[NewPassbookLink | None] = None,
) -> PassbookLinkIssued:
    await _check_learner(runtime, request.user, learner_id)
    days = (data.valid_days if data else None) or runtime.settings.ledger.passbook_link_days
    issued = await runtime.passbook_links.issue(learner_id, request.user, dt.timedelta(days=days))
    page = runtime.settings.ledger.passbook_url or f"{runtime.settings.issuer.public_url}/passbook"
    url = f"{page}?link={quote(issued.token)}"
    return PassbookLinkIssued(
        link_id=issued.link_id,
        learner_id=learner_id,
        url=url,
        token=issued.token,
        expires_at=issued.expires_at,
    )


@get(
    "/v1/learners/{learner_id:str}/passbook-links",
    guards=[MANAGERS],
    summary="A learner's passbook links (never their tokens)",
    description=(
        "An admin sees every link of the learner, an institution those it asked for, the"
        " learner their own."
    ),
)
async def get_passbook_links(
    request: Request[Actor, Any, Any],
    learner_id: Annotated[str, shaped(LearnerId)],
    runtime: Runtime,
) -> list[LinkRecord]:
    actor = request.user
    if actor.role is Role.LEARNER and actor.learner_id != learner_id:
        raise NotFoundException(f"no learner {learner_id}")
    links = await runtime.passbook_links.links_of(learner_id)
    return [link for link in links if may_manage(link, actor)]


@delete(
    "/v1/passbook-links/{link_id:str}",
    guards=[MANAGERS],
    summary="Revoke a passbook link",
    description="By its requester's institution or key, an admin, or the learner it lets in.",
    status_code=204,
    responses=problem_answers({404: "No link with this id that the caller may revoke."}),
)
async def delete_passbook_link(
    request: Request[Actor, Any, Any], link_id: LinkId, runtime: Runtime
) -> None:
    link = await runtime.passbook_links.link(link_id)
    if link is None or not may_manage(link, request.user):
        raise NotFoundException(f"no passbook link {link_id}")
    await runtime.passbook_links.revoke(link_id, request.user)
