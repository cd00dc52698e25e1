"""A learner's proof that their record is in the log, for anyone to check offline: the
learner's latest event covered by the latest signed tree head, with its inclusion proof
(``InclusionBundle``; checked by ``credit-ledger audit check-inclusion --bundle``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from proto.canonical import GENESIS_HASH
from proto.envelope import Actor, Role
from proto.types import LearnerId
from services.common.http.answers import problem_answers
from services.common.http.auth import requires
from services.common.http.bounds import BIGINT_MAX, shaped
from services.ledger.audit import head_store, proofs
from services.ledger.audit.node_store import TreeNotBuilt
from services.ledger.audit.schemas import InclusionBundle
from services.ledger.reads import read_event_at
from services.ledger.runtime import Runtime


@get(
    "/v1/learners/{learner_id:str}/inclusion-proof",
    guards=[requires(Role.LEARNER, Role.AUDITOR, Role.ADMIN)],
    summary="Proof that one of a learner's events is in the signed log",
    description=(
        "The learner's event at `position` (by default their latest one that the latest"
        " signed tree head covers), the chain hash before it, that head and the event's"
        " RFC 6962 audit path in its tree: all that `credit-ledger audit check-inclusion"
        " --bundle` needs, with the ledger's public keys (GET /v1/audit/keys). A learner's"
        " link asks for its own learner only."
    ),
    responses=problem_answers(
        {
            404: "No tree head is signed yet, none covers an event of this learner, or the"
            " position is not one of this learner's events."
        }
    ),
)
async def get_learner_inclusion_proof(
    request: Request[Actor, Any, Any],
    learner_id: Annotated[str, shaped(LearnerId)],
    runtime: Runtime,
    position: Annotated[int | None, Parameter(ge=1, le=BIGINT_MAX)] = None,
) -> InclusionBundle:
    actor = request.user
    if actor.role is Role.LEARNER and actor.learner_id != learner_id:
        raise NotFoundException(f"no events of learner {learner_id} this learner may read")
    async with runtime.pool.acquire() as conn:
        head = await head_store.latest_head(conn)
        if head is None:
            raise NotFoundException("no tree head has been signed yet")
        chosen = await conn.fetchval(
            "SELECT max(position) FROM ledger.events WHERE stream = $1 AND position <= $2"
            " AND ($3::bigint IS NULL OR position = $3)",
            f"learner-{learner_id}",
            head.tree_size,
            position,
        )
        if chosen is None:
            raise NotFoundException(
                f"the latest signed head (tree size {head.tree_size}) covers no event of"
                f" learner {learner_id}" + (f" at position {position}" if position else "")
            )
        event = await read_event_at(conn, chosen)
        previous = await conn.fetchval(
            "SELECT encode(hash, 'hex') FROM ledger.events WHERE position = $1", chosen - 1
        )
        try:
            proof = await proofs.inclusion(conn, chosen, head.tree_size)
        except TreeNotBuilt:
            raise NotFoundException(f"the tree is not built to size {head.tree_size}") from None
    return InclusionBundle(
        event=event,
        previous_hash=previous if previous is not None else GENESIS_HASH.hex(),
        tree_head=head,
        proof=proof,
    )
