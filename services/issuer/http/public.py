"""Public endpoints (docs/architecture.md §6): keys, the DID document, status lists, credentials by id,
and verification."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, Parameter

from services.common.http.answers import ALSO_ANSWERS, problem_answers
from services.common.http.bounds import INTEGER_MAX
from services.issuer import store
from services.issuer.credentials.did import did_document
from services.issuer.credentials.jws import TOKEN_MAX_CHARS, parse_compact
from services.issuer.credentials.status_list import status_list_credential
from services.issuer.credentials.vc_jwt import VerificationReport, sign_credential
from services.issuer.http.pages import credential_page, verify_token
from services.issuer.runtime import IssuerRuntime, Runtime

VC_JWT_MEDIA_TYPE = "application/vc+jwt"
DID_MEDIA_TYPE = "application/did+json"
JWK_MEDIA_TYPE = "application/jwk+json"
JSON_MEDIA_TYPE = "application/json"
STATUS_LIST_CACHE_MAX = 1000
CACHE_PUBLIC_S = 60


class VerifyRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A credential as a compact JWS (VC-JWT)."""

    credential: Annotated[str, msgspec.Meta(min_length=1, max_length=TOKEN_MAX_CHARS)]


class PublicCredential(msgspec.Struct, frozen=True, kw_only=True):
    credential_id: str
    status: str
    revoked_at: dt.datetime | None
    jwt: str
    credential: msgspec.Raw


def _cacheable(body: object, media_type: str = JSON_MEDIA_TYPE) -> Response[object]:
    return Response(
        body, media_type=media_type, headers={"Cache-Control": f"public, max-age={CACHE_PUBLIC_S}"}
    )


@get(
    "/.well-known/jwks.json",
    summary="The issuer's public keys (JWKS), old ones included",
    description=(
        "Each key twice: under its DID URL kid (`did:web:...#<thumbprint>`, what credentials"
        " are signed with) and under its key URL kid (`<public URL>/v1/keys/<thumbprint>`,"
        " what credentials signed before the DID URL form carry)."
    ),
)
async def jwks(runtime: Runtime) -> Response[object]:
    return _cacheable(runtime.ctx.keys.jwks())


@get(
    ["/.well-known/did.json", "/did.json"],
    summary="The issuer's did:web document",
    description="/did.json serves a did:web whose public URL has a path.",
    media_type=DID_MEDIA_TYPE,
)
async def did_json(runtime: Runtime) -> Response[object]:
    return _cacheable(did_document(runtime.did, runtime.ctx.keys), DID_MEDIA_TYPE)


@get(
    "/v1/keys/{thumbprint:str}",
    summary="One public key as a JWK (what an older credential's kid dereferences to)",
    description=(
        "Credentials signed before the DID URL kid carry `<public URL>/v1/keys/<thumbprint>`"
        " as their kid; this serves that key, with that kid. Newer credentials name"
        " `did:web:...#<thumbprint>`, a verification method of /.well-known/did.json."
    ),
    media_type=JWK_MEDIA_TYPE,
    responses=problem_answers({404: "This issuer has no key with this thumbprint."}),
)
async def public_key(thumbprint: FromPath[str], runtime: Runtime) -> Response[object]:
    keys = runtime.ctx.keys
    key = keys.by_thumbprint(thumbprint)
    if key is None:
        raise NotFoundException(f"no key {thumbprint}")
    return _cacheable(keys.public_jwk(key, legacy=True), JWK_MEDIA_TYPE)


async def _status_list_jwt(runtime: IssuerRuntime, list_id: int) -> str | None:
    async with runtime.ctx.pool.acquire() as conn:
        found = await store.status_list(conn, list_id)
    if found is None:
        return None
    bits, version, updated_at = found
    keys = runtime.ctx.keys
    cache_key = (list_id, version, keys.kid(keys.active))
    cached = runtime.status_list_jwts.get(cache_key)
    if cached is not None:
        return cached
    credential = status_list_credential(
        list_url=runtime.ctx.status_list_url(list_id),
        issuer_id=runtime.did,
        bits=bits,
        valid_from=updated_at,
    )
    token, _ = sign_credential(credential, keys)
    if len(runtime.status_list_jwts) >= STATUS_LIST_CACHE_MAX:
        runtime.status_list_jwts.clear()
    runtime.status_list_jwts[cache_key] = token
    return token


@get(
    "/v1/status-lists/{list_id:int}",
    summary="A revocation status list: a signed BitstringStatusListCredential (VC-JWT)",
    description="Updated on every revocation. `?format=json` shows the signed payload as JSON.",
    media_type=VC_JWT_MEDIA_TYPE,
    responses=problem_answers({404: "No status list with this id."}),
    opt={ALSO_ANSWERS: {200: JSON_MEDIA_TYPE}},
)
async def status_list(
    list_id: Annotated[int, Parameter(ge=1, le=INTEGER_MAX)],
    runtime: Runtime,
    format: Annotated[str, Parameter(pattern="^(jwt|json)$")] = "jwt",
) -> Response[object]:
    token = await _status_list_jwt(runtime, list_id)
    if token is None:
        raise NotFoundException(f"no status list {list_id}")
    headers = {"Cache-Control": "no-cache"}
    if format == "json":
        payload = msgspec.Raw(parse_compact(token).payload)
        return Response(payload, media_type=JSON_MEDIA_TYPE, headers=headers)
    return Response(token, media_type=VC_JWT_MEDIA_TYPE, headers=headers)


@get(
    "/v1/credentials/{credential_id:uuid}",
    summary="One credential by its (unguessable) id: a page, JSON, or the VC-JWT",
    description=(
        "By content negotiation (`Accept`), or `format` when a link must choose:"
        " `text/html` (a browser) is the credential's page, with its verification checked"
        " on the server and said in plain words, its components and their institutions, a"
        " share link and an Open Graph preview; `application/vc+jwt` is the compact VC-JWT;"
        " anything else is JSON, as described here."
    ),
    responses={
        **problem_answers({404: "No credential with this id."}),
        200: ResponseSpec(
            PublicCredential,
            description="The credential (JSON; or its page, or its VC-JWT, by `Accept`).",
            generate_examples=False,
        ),
    },
    opt={ALSO_ANSWERS: {200: (VC_JWT_MEDIA_TYPE, MediaType.HTML.value)}},
)
async def credential_by_id(
    request: Request[Any, Any, Any],
    credential_id: FromPath[uuid.UUID],
    runtime: Runtime,
    format: Annotated[
        str | None,
        Parameter(pattern="^(html|json|jwt)$", description="Overrides `Accept`."),
    ] = None,
) -> Response[Any]:
    async with runtime.ctx.pool.acquire() as conn:
        row = await store.credential(conn, credential_id)
    if row is None:
        raise NotFoundException(f"no credential {credential_id}")
    chosen = format or _negotiated(request)
    vary = {"Vary": "Accept"}
    if chosen == "html":
        page = await credential_page(runtime, row)
        page.headers.update(vary)
        return page
    if chosen == "jwt":
        return Response(row.jwt, media_type=VC_JWT_MEDIA_TYPE, headers=vary)
    body = PublicCredential(
        credential_id=f"urn:uuid:{row.credential_id}",
        status="revoked" if row.revoked_at else "active",
        revoked_at=row.revoked_at,
        jwt=row.jwt,
        credential=msgspec.Raw(parse_compact(row.jwt).payload),
    )
    return Response(body, media_type=JSON_MEDIA_TYPE, headers=vary)


def _negotiated(request: Request[Any, Any, Any]) -> str:
    """JSON unless the client prefers the page or the VC-JWT (JSON wins ties, so ``*/*``
    and no ``Accept`` get JSON)."""
    best = request.accept.best_match(
        [JSON_MEDIA_TYPE, VC_JWT_MEDIA_TYPE, MediaType.HTML.value], default=JSON_MEDIA_TYPE
    )
    return {VC_JWT_MEDIA_TYPE: "jwt", MediaType.HTML.value: "html"}.get(best or "", "json")


@post(
    "/v1/verify",
    summary="Verify a credential (VC-JWT): signature, issuer key, validity and status",
    description=(
        "Always 200 with a report: `valid` is true only if every check passed; each check"
        " carries the reason it passed or failed. Only keys this issuer publishes are trusted."
    ),
    status_code=200,
)
async def verify(data: JSONBody[VerifyRequest], runtime: Runtime) -> VerificationReport:
    return await verify_token(runtime, data.credential)
