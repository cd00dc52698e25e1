"""A load for projector drills: CNC passes for a few hundred learners, appended in
batches, and every learner's credit bank read back."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any, Protocol

from proto.envelope import Role
from tests.support.factories import NSTI, append_body, assessment_passed
from tests.support.ledger import Ledger

CNC = ("CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-MAINT", "CNC-QC")
QUALIFICATION = "ADV-CNC-MACHINING"
LEARNERS = 400
PASSES_EACH = 5
BATCH = 500
QUERY_CONCURRENCY = 8


def learner_ids(rng: random.Random) -> list[str]:
    return [f"{n:012d}" for n in rng.sample(range(10**11, 10**12), LEARNERS)]


def planned_passes(rng: random.Random, learners: list[str]) -> list[dict[str, Any]]:
    """Five CNC passes per learner, interleaved across learners: most learners pass all
    five modules (some with a pass too old to count), the rest repeat some."""
    today = dt.datetime.now(dt.UTC).date()
    passes = []
    for learner in learners:
        codes = list(CNC) if rng.random() < 0.6 else rng.choices(CNC, k=PASSES_EACH)
        for code in codes:
            if rng.random() < 0.08:  # expired long ago: counts for nothing new
                assessed_on = today - dt.timedelta(days=rng.randint(8 * 365, 15 * 365))
            else:
                assessed_on = today - dt.timedelta(days=rng.randint(1, 5 * 365))
            passes.append(
                assessment_passed(
                    learner_id=learner,
                    institution_id=NSTI,
                    code=code,
                    mode=rng.choice(("training", "rpl")),
                    assessed_on=assessed_on,
                )
            )
    rng.shuffle(passes)
    return passes


async def append_in_batches(
    ledger: Ledger, events: list[dict[str, Any]], batch: int = BATCH, pause_s: float = 0.0
) -> int:
    """Append ``events`` in batches (``pause_s`` between them: a steady load); returns the head."""
    for start in range(0, len(events), batch):
        body = {"events": [append_body(e) for e in events[start : start + batch]]}
        response = await ledger.post("/v1/events/batch", body, Role.INSTITUTION, NSTI)
        assert response.status_code == 201, response.text
        if pause_s:
            await asyncio.sleep(pause_s)
    head: int = (await ledger.get("/v1/head")).json()["position"]
    return head


class ReadsJson(Protocol):
    async def get_json(self, path: str, **params: Any) -> Any: ...


async def bank_answers(projector: ReadsJson, learners: list[str]) -> dict[str, Any]:
    limit = asyncio.Semaphore(QUERY_CONCURRENCY)

    async def one(learner: str) -> tuple[str, Any]:
        async with limit:
            return learner, await projector.get_json(f"/v1/learners/{learner}/credit-bank")

    return dict(await asyncio.gather(*(one(learner) for learner in learners)))
