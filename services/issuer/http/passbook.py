"""``/passbook``: the learner's own record, server-rendered, usable on a phone and without
JavaScript, signed in by their passbook link.

Arriving by the link (``/passbook?link=<token>``), the page checks the token with the
ledger (``/v1/whoami``, as for any key), keeps it in an HTTP-only cookie and sends the
browser on to ``/passbook``, so the token leaves the address bar and the history. Every
read then goes to the service that owns it with the learner's own token
(``services/issuer/passbook/reads.py``), so each answers exactly what it answers the
learner through its API. Its forms carry a token derived from the link's, so no other
site can post them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec
import segno
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import QueryParameter

from domain.consent import grants_of
from proto.envelope import Actor, Role
from proto.events import CONSENT_EVENTS, decode_event
from services.common.http.auth import TOKEN_MAX_CHARS
from services.common.http.pages import html_page, templates
from services.common.ledger_client import LedgerError
from services.issuer import pages, store
from services.issuer.credentials.identity import identity_for
from services.issuer.credentials.jws import parse_compact
from services.issuer.credentials.transcript import HeldPass, build_transcript
from services.issuer.credentials.vc_jwt import sign_credential
from services.issuer.passbook.reads import LinkRefused, PassbookReads, PassbookUnavailable
from services.issuer.passbook.timeline import Names, timeline
from services.issuer.runtime import IssuerRuntime, Runtime

COOKIE = "passbook"
VC_JWT_MEDIA_TYPE = "application/vc+jwt"
_payload_decoder = msgspec.json.Decoder(dict[str, Any])
json_encode = msgspec.json.encode
CONSENT_TYPES = frozenset(t.__name__ for t in CONSENT_EVENTS)
CREDENTIALS_SHOWN_MAX = 100
_templates = templates(Path(pages.__file__).parent / "templates")


@dataclass(frozen=True)
class Progress:
    code: str
    title: str
    satisfied: bool
    counted: str
    needed: int
    percent: int
    missing: list[str]
    explanation: list[str]


def form_token(link_token: str) -> str:
    """What each passbook form carries: derived from the link's token, which only the
    learner's browser holds (in an HTTP-only cookie)."""
    return hmac.new(link_token.encode(), b"passbook form", hashlib.sha256).hexdigest()


@get("/passbook", media_type=MediaType.HTML, include_in_schema=False)
async def passbook(
    request: Request[Any, Any, Any],
    runtime: Runtime,
    link: Annotated[str | None, QueryParameter()] = None,
) -> Response[str]:
    if link is not None:
        if await _learner(runtime, link) is None:
            return _refused(runtime)
        cookie = Cookie(
            key=COOKIE, value=link, path="/passbook", secure=True, httponly=True, samesite="lax"
        )
        return Response("", status_code=303, headers={"Location": "/passbook"}, cookies=[cookie])
    signed = await _signed_in(request, runtime)
    if signed is None:
        return _refused(runtime)
    token = signed.token
    try:
        values = await _gather(runtime, token, signed.learner_id)
    except LinkRefused:
        return _refused(runtime)
    except (PassbookUnavailable, LedgerError):
        return _unavailable(
            runtime, "Your passbook cannot be shown right now", "The ledger or the projector"
        )
    return _page(runtime, "passbook.html", form_token=form_token(token), **values)


@post("/passbook/sign-out", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def sign_out(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    token = request.cookies.get(COOKIE, "")
    if not await _form_is_ours(request, token):
        return _forged(runtime)
    return _page(
        runtime,
        "passbook_message.html",
        heading="Signed out",
        message="Open your passbook link again to come back, while it lasts.",
        cookies=[_gone()],
    )


@post("/passbook/revoke-link", media_type=MediaType.HTML, include_in_schema=False, status_code=200)
async def revoke_link(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    signed = await _signed_in(request, runtime)
    if signed is None or not await _form_is_ours(request, signed.token):
        return _forged(runtime)
    token = signed.token
    try:
        await runtime.passbook.revoke_link(token, signed.actor.key_id.removeprefix("link-"))
    except LinkRefused:
        return _refused(runtime)
    except PassbookUnavailable:
        return _unavailable(runtime, "The link could not be stopped right now", "The ledger")
    return _page(
        runtime,
        "passbook_message.html",
        heading="This link no longer works",
        message=(
            "Nobody can open your passbook with it any more, you included. Ask your"
            " institution for a new link when you need one."
        ),
        cookies=[_gone()],
    )


@post(
    "/passbook/consent/grant", media_type=MediaType.HTML, include_in_schema=False, status_code=200
)
async def grant_consent(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    """The learner lets an institution read their whole bank: a ConsentGranted, recorded
    by the ledger as the learner's own (with the learner's link)."""
    signed = await _signed_in(request, runtime)
    if signed is None or not await _form_is_ours(request, signed.token):
        return _forged(runtime)
    token = signed.token
    form = await request.form()
    event: dict[str, Any] = {
        "type": "ConsentGranted",
        "grant_id": str(uuid.uuid4()),
        "learner_id": signed.learner_id,
        "grantee_institution_id": str(form.get("grantee", "")),
    }
    if until := str(form.get("valid_until", "")).strip():
        event["valid_until"] = until
    return await _recorded(runtime, token, event)


@post(
    "/passbook/consent/withdraw",
    media_type=MediaType.HTML,
    include_in_schema=False,
    status_code=200,
)
async def withdraw_consent(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    signed = await _signed_in(request, runtime)
    if signed is None or not await _form_is_ours(request, signed.token):
        return _forged(runtime)
    token = signed.token
    form = await request.form()
    event = {
        "type": "ConsentWithdrawn",
        "grant_id": str(form.get("grant_id", "")),
        "learner_id": signed.learner_id,
    }
    return await _recorded(runtime, token, event)


async def _recorded(runtime: IssuerRuntime, token: str, event: dict[str, Any]) -> Response[str]:
    """The event recorded, then back to the passbook (303: a reload posts nothing again);
    a refusal is said on a page of its own, in the ledger's words."""
    try:
        status, answer = await runtime.passbook.record(token, event)
    except LinkRefused:
        return _refused(runtime)
    except PassbookUnavailable:
        return _unavailable(runtime, "Your choice could not be recorded right now", "The ledger")
    if status in (200, 201):
        return Response("", status_code=303, headers={"Location": "/passbook#consent_heading"})
    return _page(
        runtime,
        "passbook_message.html",
        status=status,
        heading="The ledger did not record this",
        message=f"{answer.get('detail', 'It was refused.')} Go back to your passbook to try again.",
    )


@get("/passbook/proof.json", include_in_schema=False)
async def inclusion_proof(request: Request[Any, Any, Any], runtime: Runtime) -> Response[Any]:
    """The ledger's inclusion bundle of the learner's latest signed event, to check offline."""
    signed = await _signed_in(request, runtime)
    if signed is None:
        return _refused(runtime)
    token = signed.token
    try:
        bundle = await runtime.passbook.inclusion_bundle(token, signed.learner_id)
    except LinkRefused:
        return _refused(runtime)
    except PassbookUnavailable:
        return _unavailable(runtime, "The proof cannot be fetched right now", "The ledger")
    if bundle is None:
        return _page(
            runtime,
            "passbook_message.html",
            status=404,
            heading="No proof yet",
            message="The ledger signs its tree heads every minute or so; try again shortly.",
        )
    return Response(
        bundle,
        media_type="application/json",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": 'attachment; filename="inclusion-proof.json"',
        },
    )


@get("/passbook/transcript.jwt", include_in_schema=False)
async def transcript(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    """The learner's whole record as a signed CLR 2.0 ClrCredential (VC-JWT), to keep."""
    signed = await _signed_in(request, runtime)
    if signed is None:
        return _refused(runtime)
    token = signed.token
    learner_id = signed.learner_id
    try:
        bank = await runtime.passbook.bank(token, learner_id)
    except LinkRefused:
        return _refused(runtime)
    except PassbookUnavailable:
        return _unavailable(runtime, "Your transcript cannot be made right now", "The projector")
    async with runtime.ctx.pool.acquire() as conn:
        credentials = await store.credentials_of(conn, learner_id, CREDENTIALS_SHOWN_MAX)
    valid = ((bank or {}).get("credit_bank") or {}).get("valid", [])
    qualifications = [
        _payload_decoder.decode(parse_compact(c.jwt).payload)
        for c in credentials
        if c.revoked_at is None
    ]
    if not valid and not qualifications:
        return _page(
            runtime,
            "passbook_message.html",
            status=404,
            heading="Nothing to put in a transcript yet",
            message="It holds the passes that count and the qualifications you hold.",
        )
    titles, _ = await runtime.ctx.catalogs.kinds({str(p["micro_credential_code"]) for p in valid})
    names = Names(
        titles, await runtime.ctx.catalogs.institution_names({p["institution_id"] for p in valid})
    )
    transcript_id = f"urn:uuid:{uuid.uuid4()}"
    now = dt.datetime.now(dt.UTC)
    credential = build_transcript(
        transcript_id=transcript_id,
        issuer=runtime.ctx.issuer,
        identity=identity_for(runtime.ctx.salt, learner_id, transcript_id),
        issued_at=now,
        passes=[_held_pass(p, names) for p in valid],
        qualifications=qualifications,
        nsqf_url=runtime.ctx.settings.nsqf_url,
    )
    vc_jwt, _ = sign_credential(credential, runtime.ctx.keys)
    return Response(
        vc_jwt,
        media_type=VC_JWT_MEDIA_TYPE,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="transcript-{now:%Y-%m-%d}.jwt"',
        },
    )


def _held_pass(found: Mapping[str, Any], names: Names) -> HeldPass:
    return HeldPass(
        institution_id=str(found["institution_id"]),
        institution_name=names.institution(str(found["institution_id"])),
        assessment_id=str(found["assessment_id"]),
        code=str(found["micro_credential_code"]),
        title=names.titles.get(
            str(found["micro_credential_code"]), str(found["micro_credential_code"])
        ),
        mode=str(found["mode"]),
        level=str(found["level"]),
        sector=str(found["sector"]),
        notional_hours=int(found["notional_hours"]),
        credits_exact=str(found["credits"]["exact"]),
        assessed_on=dt.date.fromisoformat(str(found["assessed_on"])),
        position=int(found["position"]),
    )


@dataclass(frozen=True)
class SignedIn:
    token: str  # the passbook link's, from the cookie
    actor: Actor
    learner_id: str


async def _signed_in(request: Request[Any, Any, Any], runtime: IssuerRuntime) -> SignedIn | None:
    """The learner whose link the passbook cookie holds, or None (no cookie, or a link
    that does not work)."""
    token = request.cookies.get(COOKIE, "")
    actor = await _learner(runtime, token)
    if actor is None or not isinstance(actor.learner_id, str):
        return None
    return SignedIn(token, actor, actor.learner_id)


async def _learner(runtime: IssuerRuntime, token: str) -> Actor | None:
    if not token or len(token) > TOKEN_MAX_CHARS:
        return None
    actor = await runtime.key_cache.actor(token)
    return actor if actor is not None and actor.role is Role.LEARNER else None


async def _form_is_ours(request: Request[Any, Any, Any], token: str) -> bool:
    form = await request.form()
    presented = str(form.get("form_token", ""))
    return bool(token) and hmac.compare_digest(presented, form_token(token))


async def _gather(runtime: IssuerRuntime, token: str, learner_id: str) -> dict[str, Any]:
    reads = runtime.passbook
    bank = await reads.bank(token, learner_id)
    events = await reads.stream(token, learner_id)
    links = await reads.links(token, learner_id)
    async with runtime.ctx.pool.acquire() as conn:
        credentials = await store.credentials_of(conn, learner_id, CREDENTIALS_SHOWN_MAX)
    codes = {
        str(e["data"].get(k))
        for e in events
        for k in ("micro_credential_code", "qualification_code")
        if e["data"].get(k)
    }
    progress_rows = (bank or {}).get("progress", [])
    codes |= {str(p["qualification_code"]) for p in progress_rows}
    codes |= {c.qualification_code for c in credentials}
    titles, _ = await runtime.ctx.catalogs.kinds(codes)
    # Every institution, for the grant form: the names of the page come from the same list.
    institutions = await reads.institutions(token)
    institution_names = {str(i["institution_id"]): str(i["name"]) for i in institutions}
    names = Names(titles, institution_names)
    held = [
        {
            "title": names.title(c.qualification_code),
            "awarded_on": c.valid_from.date().isoformat(),
            "url": runtime.ctx.credential_url(c.credential_id),
            "credential_id": c.credential_id,
            "revoked_at": c.revoked_at,
            "qr": segno.make(runtime.ctx.credential_url(c.credential_id), error="m").svg_data_uri(
                scale=4, border=2
            ),
        }
        for c in credentials
    ]
    today = dt.datetime.now(dt.UTC).date()
    proof = await _proof_summary(reads, token, learner_id)
    return {
        "proof": proof,
        "grants": _grants_in_force(events, institution_names, today),
        "institutions": sorted(institutions, key=lambda i: str(i["name"])),
        "today": today.isoformat(),
        "learner_id": learner_id,
        "bank": (bank or {}).get("credit_bank"),
        "as_of_position": (bank or {}).get("as_of_position"),
        "progress": [_progress(p, names) for p in progress_rows if not p["satisfied"]],
        "held": [h for h in held if h["revoked_at"] is None],
        "revoked_credentials": [h for h in held if h["revoked_at"] is not None],
        "timeline": timeline(events, (bank or {}).get("credit_bank"), names),
        "links": links,
        "names": names,
        "latest_position": events[-1]["position"] if events else None,
    }


async def _proof_summary(
    reads: PassbookReads, token: str, learner_id: str
) -> dict[str, Any] | None:
    """What the passbook says of the proof of the learner's latest signed event."""
    bundle = await reads.inclusion_bundle(token, learner_id)
    if bundle is None:
        return None
    parts = _payload_decoder.decode(bundle)
    return {
        "position": parts["event"]["position"],
        "tree_size": parts["tree_head"]["tree_size"],
        "signed_at": parts["tree_head"]["timestamp"],
        "key_id": parts["tree_head"]["key_id"],
        "keys_url": f"{reads.ledger_url}/v1/audit/keys",
    }


def _grants_in_force(
    events: list[dict[str, Any]], names: Mapping[str, str], today: dt.date
) -> list[dict[str, Any]]:
    grants = grants_of(
        (decode_event(json_encode(e["data"])), int(e["position"]))
        for e in events
        if e["type"] in CONSENT_TYPES
    )
    return [
        {
            "grant_id": g.grant_id,
            "grantee": names.get(g.grantee_institution_id, g.grantee_institution_id),
            "valid_until": g.valid_until,
        }
        for g in grants
        if g.in_force(today)
    ]


def _progress(decision: Mapping[str, Any], names: Names) -> Progress:
    counted = decision["counted_credits"]
    exact_num, _, exact_den = str(counted["exact"]).partition("/")
    value = int(exact_num) / int(exact_den or 1)
    needed = int(decision["min_credits"])
    missing = [names.title(code) for code in decision["missing_required"]]
    missing += [
        f"{e['short_by']} more of: {', '.join(names.title(c) for c in e['codes'])}"
        for e in decision["electives"]
        if e["short_by"] > 0
    ]
    return Progress(
        code=str(decision["qualification_code"]),
        title=names.title(str(decision["qualification_code"])),
        satisfied=bool(decision["satisfied"]),
        counted=str(counted["display"]),
        needed=needed,
        percent=min(100, int(100 * value / needed)) if needed else 100,
        missing=missing,
        explanation=list(decision["explanation"]),
    )


def _gone() -> Cookie:
    return Cookie(key=COOKIE, value="", path="/passbook", max_age=0)


def _refused(runtime: IssuerRuntime) -> Response[str]:
    return _page(
        runtime,
        "passbook_message.html",
        status=401,
        heading="This passbook link does not work",
        message=(
            "It has expired, been revoked, or is not a passbook link. Ask the institution"
            " that recorded your results for a new one."
        ),
        cookies=[_gone()],
    )


def _unavailable(runtime: IssuerRuntime, heading: str, who: str) -> Response[str]:
    return _page(
        runtime,
        "passbook_message.html",
        status=503,
        heading=heading,
        message=f"{who} is not answering. Try again in a minute.",
    )


def _forged(runtime: IssuerRuntime) -> Response[str]:
    return _page(
        runtime,
        "passbook_message.html",
        status=403,
        heading="This form did not come from your passbook",
        message="Nothing was changed. Open your passbook and try again from there.",
    )


def _page(
    runtime: IssuerRuntime,
    template: str,
    *,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    **values: Any,
) -> Response[str]:
    body = _templates.get_template(template).render(
        issuer_name=runtime.ctx.issuer.name, page_title="Your passbook", **values
    )
    return html_page(body, status=status, cookies=cookies or [])
