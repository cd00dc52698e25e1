"""The audit endpoints: signed tree heads, proofs, and the public keys that check them.

Auditor role only (other roles get 403; the auditor still cannot append events); the JWKS
is public, like every other piece of key material.
"""

from __future__ import annotations

from typing import Annotated

from litestar import get, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from proto.envelope import Role
from services.common.db import Conn
from services.common.http.answers import problem_answers
from services.common.http.auth import requires
from services.common.http.bounds import BIGINT_MAX
from services.common.http.problems import Problem
from services.common.openapi import NO_CREDENTIALS
from services.ledger.audit import head_store, proofs
from services.ledger.audit.node_store import TreeNotBuilt, read_state
from services.ledger.audit.runtime import SigningDisabled
from services.ledger.audit.schemas import (
    ConsistencyProof,
    InclusionProof,
    JsonWebKeySet,
    StoredTreeHead,
    TreeHeadPage,
)
from services.ledger.errors import Refused
from services.ledger.http.problems import RefusedException
from services.ledger.runtime import Runtime

AUDITOR = requires(Role.AUDITOR)
PAGE_MAX = 1000
_SIZE_MAX = BIGINT_MAX


class AuditRefused(Refused):
    """A refusal whose problem title fits an audit request (the shared titles speak of events)."""

    def __init__(self, status: int, code: str, detail: str, title: str) -> None:
        super().__init__(status, code, detail)
        self.title = title

    def problem(self, *, instance: str | None = None) -> Problem:
        return Problem(
            type=f"urn:credit-ledger:problem:{self.code}",
            title=self.title,
            status=self.status,
            detail=self.detail,
            code=self.code,
            instance=instance,
        )


_AUTH_PROBLEMS = {401: "Missing, unknown or revoked API key.", 403: "Not an auditor key."}


def _refused(exc: Exception, status: int, code: str, title: str) -> RefusedException:
    return RefusedException(AuditRefused(status, code, str(exc), title))


@get(
    "/v1/audit/keys",
    exclude_from_auth=True,
    security=NO_CREDENTIALS,
    summary="The public keys of the tree heads (JWKS, public)",
    description=(
        "Every Ed25519 key that ever signed a tree head, as OKP JWKs (RFC 8037); a head's "
        "key_id is the key's RFC 7638 thumbprint."
    ),
)
async def get_tree_keys(runtime: Runtime) -> JsonWebKeySet:
    async with runtime.pool.acquire() as conn:
        return JsonWebKeySet(keys=await head_store.public_keys(conn))


@get(
    "/v1/audit/tree-heads",
    guards=[AUDITOR],
    summary="Signed tree heads, oldest first (paged)",
    description="Every head ever signed, kept for ever. Resume with next_after_head_id.",
    responses=problem_answers(_AUTH_PROBLEMS),
)
async def get_tree_heads(
    runtime: Runtime,
    after_head_id: Annotated[int, Parameter(ge=0, le=_SIZE_MAX)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=PAGE_MAX)] = 100,
) -> TreeHeadPage:
    async with runtime.pool.acquire() as conn:
        heads = await head_store.heads_after(conn, after_head_id, limit)
    next_after = heads[-1].head_id if heads else after_head_id
    return TreeHeadPage(tree_heads=heads, next_after_head_id=next_after)


@get(
    "/v1/audit/tree-heads/latest",
    guards=[AUDITOR],
    summary="The latest signed tree head",
    responses=problem_answers({**_AUTH_PROBLEMS, 404: "No head has been signed yet."}),
)
async def get_latest_tree_head(runtime: Runtime) -> StoredTreeHead:
    async with runtime.pool.acquire() as conn:
        head = await head_store.latest_head(conn)
    if head is None:
        raise NotFoundException("no tree head has been signed yet")
    return head


@post(
    "/v1/audit/tree-heads",
    guards=[AUDITOR],
    summary="Sign a tree head now",
    description=(
        "Signs the tree over everything committed before the request (waiting briefly for "
        "the tree builder) and keeps the head. No request body."
    ),
    status_code=201,
    responses=problem_answers(
        {**_AUTH_PROBLEMS, 503: "No tree-signing key is configured in this ledger process."}
    ),
)
async def post_tree_head(runtime: Runtime) -> StoredTreeHead:
    try:
        return await runtime.audit.sign_now()
    except SigningDisabled as exc:
        raise _refused(exc, 503, "tree_signing_disabled", "Tree signing unavailable") from exc


@get(
    "/v1/audit/proofs/inclusion",
    guards=[AUDITOR],
    summary="Inclusion proof of one event in a tree of a given size",
    description=(
        "The RFC 6962 audit path of event `position` (leaf index position - 1) in the tree of "
        "`tree_size` leaves (take it from a signed head). The leaf data is the chain hash "
        "recomputed from the log: SHA-256(previous chain hash || canonical bytes)."
    ),
    responses=problem_answers(
        {
            **_AUTH_PROBLEMS,
            404: "The tree is not built to tree_size yet.",
            422: "Position outside the tree, or a malformed parameter.",
        }
    ),
)
async def get_inclusion_proof(
    runtime: Runtime,
    position: Annotated[int, Parameter(ge=1, le=_SIZE_MAX)],
    tree_size: Annotated[int, Parameter(ge=1, le=_SIZE_MAX)],
) -> InclusionProof:
    async with runtime.pool.acquire() as conn:
        try:
            return await proofs.inclusion(conn, position, tree_size)
        except proofs.ProofRefused as exc:
            raise _refused(exc, 422, "position_outside_tree", "Unprocessable request") from exc
        except TreeNotBuilt:
            raise await _not_built(conn, tree_size) from None


@get(
    "/v1/audit/proofs/consistency",
    guards=[AUDITOR],
    summary="Consistency proof between two tree sizes",
    description=(
        "The RFC 6962 proof that the tree of `from_size` leaves is a prefix of the tree of "
        "`to_size` leaves (take both from signed heads)."
    ),
    responses=problem_answers(
        {
            **_AUTH_PROBLEMS,
            404: "The tree is not built to to_size yet.",
            422: "from_size > to_size, or a malformed parameter.",
        }
    ),
)
async def get_consistency_proof(
    runtime: Runtime,
    from_size: Annotated[int, Parameter(ge=0, le=_SIZE_MAX)],
    to_size: Annotated[int, Parameter(ge=0, le=_SIZE_MAX)],
) -> ConsistencyProof:
    async with runtime.pool.acquire() as conn:
        try:
            return await proofs.consistency(conn, from_size, to_size)
        except proofs.ProofRefused as exc:
            raise _refused(exc, 422, "sizes_out_of_order", "Unprocessable request") from exc
        except TreeNotBuilt:
            raise await _not_built(conn, to_size) from None


async def _not_built(conn: Conn, tree_size: int) -> RefusedException:
    built = (await read_state(conn)).tree_size
    detail = f"the tree holds {built} leaves; tree_size {tree_size} is not built (yet)"
    return RefusedException(AuditRefused(404, "tree_size_unknown", detail, "Not found"))


ROUTES = [
    get_tree_keys,
    get_tree_heads,
    get_latest_tree_head,
    post_tree_head,
    get_inclusion_proof,
    get_consistency_proof,
]
