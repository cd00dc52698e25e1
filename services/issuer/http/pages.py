"""The issuer's pages, server-rendered and readable without JavaScript.

- A credential's own page: what ``GET /v1/credentials/{id}`` answers a browser
  (``credential_page``), with its verification done here and said in plain words, the
  components with their institutions' names, a share link and an Open Graph preview.
- ``/verify``: paste a credential, upload its file, or give its link on this issuer
  (``?credential=<url or id>``). A link is only ever looked up in this issuer's own store:
  nothing is fetched from anywhere, so the page cannot be turned against another server.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from services.common.http.answers import ALSO_ANSWERS
from services.common.http.pages import html_page, templates
from services.issuer import pages, store
from services.issuer.credentials.jws import TOKEN_MAX_CHARS, JwsError, parse_compact
from services.issuer.credentials.status_list import is_set
from services.issuer.credentials.vc_jwt import VerificationReport, verify_credential
from services.issuer.pages.verdict import Outcome, Revocation, outcome_of
from services.issuer.runtime import IssuerRuntime, Runtime

_templates = templates(Path(pages.__file__).parent / "templates")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
REFERENCE_MAX_CHARS = 2048
# A pasted or uploaded credential, with the form's framing around it.
FORM_MAX_BYTES = 2 * TOKEN_MAX_CHARS
_payload_decoder = msgspec.json.Decoder(dict[str, Any])


async def verify_token(runtime: IssuerRuntime, token: str) -> VerificationReport:
    """The four checks of ``token`` (``POST /v1/verify`` and the pages)."""

    async def status_of(list_id: int, index: int) -> bool | None:
        async with runtime.ctx.pool.acquire() as conn:
            found = await store.status_list(conn, list_id)
        return None if found is None else is_set(found[0], index)

    return await verify_credential(
        token,
        keys=runtime.ctx.keys,
        issuer_id=runtime.did,
        status_list_prefix=runtime.ctx.status_list_url(0)[:-1],
        status_of=status_of,
        now=dt.datetime.now(dt.UTC),
    )


async def credential_page(runtime: IssuerRuntime, row: store.CredentialRow) -> Response[str]:
    outcome = await _outcome(runtime, row.jwt, row)
    url = runtime.ctx.credential_url(row.credential_id)
    summary = outcome.summary
    if summary is not None:
        title = f"{summary.title} · {summary.issuer_name}"
        facts = f"{summary.credits_earned} credits, awarded {summary.awarded_on}"
        if summary.nsqf_level:
            facts = f"NSQF level {summary.nsqf_level}, {facts}"
    else:
        title, facts = "A credential", "A credential this issuer signed."
    if outcome.state != "valid":
        facts = f"{outcome.headline}. {facts}"
    return await _render(
        runtime,
        "credential.html",
        outcome,
        page_title=title,
        og_title=title,
        og_description=facts,
        credential_url=url,
        credential_id=row.credential_id,
    )


@get(
    "/verify",
    summary="The verify page: a credential's checks and what it says, in plain words",
    description=(
        "An HTML page. With `credential` (this issuer's link of a credential, or its id) it"
        " shows that credential's verification; only this issuer's own credentials are"
        " looked up, and nothing is fetched from elsewhere. A form posts a pasted or"
        " uploaded credential to the same path."
    ),
    media_type=MediaType.HTML,
    responses={
        404: ResponseSpec(
            str,
            description="The page, saying this issuer holds no credential with this id.",
            media_type=MediaType.HTML,
            generate_examples=False,
        )
    },
    opt={ALSO_ANSWERS: {422: MediaType.HTML.value}},
)
async def verify_page(
    runtime: Runtime,
    credential: Annotated[
        str | None,
        Parameter(
            max_length=REFERENCE_MAX_CHARS,
            description="A credential's link on this issuer (…/v1/credentials/<id>), or its id.",
        ),
    ] = None,
) -> Response[str]:
    if not credential or not credential.strip():
        return await _verify_form(runtime)
    public = runtime.ctx.settings.public_url
    credential_id = credential_id_in(credential, public)
    if credential_id is None:
        problem = (
            f"This page looks up only this issuer's own credentials: a link that starts with"
            f" {public}/v1/credentials/, or a credential's id. For any other credential,"
            " paste its text or upload its file."
        )
        return await _verify_form(runtime, problem=problem, reference=credential, status=422)
    async with runtime.ctx.pool.acquire() as conn:
        row = await store.credential(conn, credential_id)
    if row is None:
        problem = f"This issuer holds no credential {credential_id}."
        return await _verify_form(runtime, problem=problem, reference=credential, status=404)
    outcome = await _outcome(runtime, row.jwt, row)
    return await _verify_form(runtime, outcome=outcome, reference=credential)


@post(
    "/verify",
    media_type=MediaType.HTML,
    include_in_schema=False,
    status_code=200,
    request_max_body_size=FORM_MAX_BYTES,
)
async def verify_submission(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    form = await request.form()
    pasted = str(form.get("credential", "")).strip()
    upload = form.get("file")
    text = pasted
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read()
        try:
            text = content.decode("utf-8-sig").strip()
        except UnicodeDecodeError:
            problem = "The file is not text: choose the credential's .jwt or JSON file."
            return await _verify_form(runtime, problem=problem, status=422)
    if not text:
        problem = "Paste a credential's text, or choose its file."
        return await _verify_form(runtime, problem=problem, status=422)
    if len(text) > TOKEN_MAX_CHARS:
        problem = f"A credential is at most {TOKEN_MAX_CHARS:,} characters."
        return await _verify_form(runtime, problem=problem, status=413)
    token = token_in(text)
    if token is None:
        problem = (
            "This JSON holds no signed credential (no jwt member): choose the .jwt download,"
            " or the JSON a credential's link serves."
        )
        return await _verify_form(runtime, problem=problem, status=422)
    row = await _own_row(runtime, token)
    outcome = await _outcome(runtime, token, row)
    return await _verify_form(runtime, outcome=outcome, pasted=pasted if not upload else "")


def credential_id_in(reference: str, public_url: str) -> uuid.UUID | None:
    """The id ``reference`` names, when it is this issuer's: ``<public URL>/v1/credentials/
    <id>`` (a query string allowed), that path alone, ``urn:uuid:<id>`` or the id itself."""
    text = reference.strip()
    patterns = (
        rf"{re.escape(public_url)}/v1/credentials/({_UUID})(?:\?[^#]*)?",
        rf"/v1/credentials/({_UUID})",
        rf"(?:urn:uuid:)?({_UUID})",
    )
    for pattern in patterns:
        found = re.fullmatch(pattern, text)
        if found:
            return uuid.UUID(found.group(1))
    return None


def token_in(text: str) -> str | None:
    """The compact JWS in ``text``: the text itself, or the ``jwt`` member of a JSON
    object (what a credential's link answers as JSON)."""
    if not text.startswith("{"):
        return text
    try:
        document = _payload_decoder.decode(text)
    except msgspec.DecodeError:
        return text  # verification says what is wrong with it
    jwt = document.get("jwt")
    return jwt.strip() if isinstance(jwt, str) else None


def _payload(token: str) -> Mapping[str, Any] | None:
    try:
        return _payload_decoder.decode(parse_compact(token).payload)
    except (JwsError, msgspec.DecodeError, ValueError):
        return None


async def _own_row(runtime: IssuerRuntime, token: str) -> store.CredentialRow | None:
    """This issuer's record of the credential ``token`` claims to be, if any."""
    payload = _payload(token)
    claimed = str(payload.get("jti", "")) if payload else ""
    found = re.fullmatch(rf"urn:uuid:({_UUID})", claimed)
    if found is None:
        return None
    async with runtime.ctx.pool.acquire() as conn:
        return await store.credential(conn, uuid.UUID(found.group(1)))


async def _outcome(runtime: IssuerRuntime, token: str, row: store.CredentialRow | None) -> Outcome:
    report = await verify_token(runtime, token)
    revocation = None
    if row is not None and row.revoked_at is not None:
        revocation = Revocation(row.revoked_at, row.revocation_reason)
    return outcome_of(report, _payload(token), revocation)


async def _verify_form(
    runtime: IssuerRuntime,
    *,
    outcome: Outcome | None = None,
    problem: str | None = None,
    reference: str = "",
    pasted: str = "",
    status: int = 200,
) -> Response[str]:
    return await _render(
        runtime,
        "verify.html",
        outcome,
        status=status,
        page_title="Verify a credential",
        problem=problem,
        reference=reference,
        pasted=pasted,
        example_url=f"{runtime.ctx.settings.public_url}/v1/credentials/…",
    )


async def _render(
    runtime: IssuerRuntime,
    template: str,
    outcome: Outcome | None,
    *,
    status: int = 200,
    **values: Any,
) -> Response[str]:
    names: dict[str, str] = {}
    if outcome is not None and outcome.summary is not None:
        names = await runtime.ctx.catalogs.institution_names(outcome.summary.institution_ids())
    body = _templates.get_template(template).render(
        outcome=outcome,
        institution_names=names,
        issuer_name=runtime.ctx.issuer.name,
        **values,
    )
    return html_page(body, status=status)
