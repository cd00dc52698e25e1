"""The projector's reads are scoped like the ledger's: an institution key sees only what
its institution recorded, a learner it recorded nothing for is not found, and every other
role sees the whole history (issue 12)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from proto.envelope import Role
from tests.support.factories import ATI, CNC_MODULES, IHM, NSTI, credits_redeemed
from tests.support.ledger import served_ledger
from tests.support.projector import Projector, record_pass, running_projector
from tests.support.servers import NatsHandle

pytestmark = pytest.mark.integration

QUALIFICATION = "ADV-CNC-MACHINING"
MODULES = [code for _, code, _ in CNC_MODULES]
# Two institutions' passes make up this learner's qualification; ATI alone made the other's.
SHARED = "910000000001"
ATI_ONLY = "910000000002"


@contextlib.asynccontextmanager
async def both_learners_recorded(database_url: str, nats: NatsHandle) -> AsyncIterator[Projector]:
    """A ledger and a projector, caught up with SHARED's and ATI_ONLY's five passes."""
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        for institution, code, day in CNC_MODULES:
            await record_pass(ledger, SHARED, institution, code, day)
            await record_pass(ledger, ATI_ONLY, ATI, code, day)
        await projector.caught_up()
        yield projector


def pass_codes(bank: dict[str, Any]) -> list[str]:
    return sorted(p["micro_credential_code"] for p in bank["credit_bank"]["valid"])


async def as_institution(projector: Projector, path: str, institution: str, **params: Any) -> Any:
    return await projector.get(path, Role.INSTITUTION, institution, **params)


async def test_an_institution_sees_only_what_it_recorded(
    database_url: str, nats: NatsHandle
) -> None:
    async with both_learners_recorded(database_url, nats) as projector:
        bank_path = f"/v1/learners/{SHARED}/credit-bank"
        progress_path = f"/v1/learners/{SHARED}/progress/{QUALIFICATION}"

        whole = (await projector.get(bank_path)).json()
        assert whole["recorded_by"] is None
        assert pass_codes(whole) == sorted(MODULES)
        assert (await projector.get(progress_path)).json()["satisfied"] is True

        nsti = await as_institution(projector, bank_path, NSTI)
        assert nsti.status_code == 200
        assert nsti.json()["recorded_by"] == NSTI
        assert pass_codes(nsti.json()) == ["CNC-FUND", "CNC-PROG"]
        assert nsti.json()["credit_bank"]["total_hours"] < whole["credit_bank"]["total_hours"]
        own_progress = (await as_institution(projector, progress_path, NSTI)).json()
        assert (own_progress["recorded_by"], own_progress["satisfied"]) == (NSTI, False)

        # A learner the institution never recorded: the same 404 as a learner nobody knows.
        for path in (bank_path, progress_path):
            stranger = await as_institution(projector, path, IHM)
            assert stranger.status_code == 404, path
            assert stranger.headers["content-type"].startswith("application/problem+json")
        unknown = await as_institution(projector, "/v1/learners/999999999999/credit-bank", IHM)
        assert unknown.status_code == 404
        assert unknown.json()["title"] == stranger.json()["title"]


async def test_eligible_learners_are_filtered_the_same_way(
    database_url: str, nats: NatsHandle
) -> None:
    async with both_learners_recorded(database_url, nats) as projector:
        path = f"/v1/qualifications/{QUALIFICATION}/eligible-learners"

        for role in (Role.AUDITOR, Role.ADMIN, Role.ISSUER):
            everyone = (await projector.get(path, role)).json()
            assert (everyone["learners"], everyone["recorded_by"]) == ([SHARED, ATI_ONLY], None)
        ati = (await as_institution(projector, path, ATI)).json()
        # SHARED's passes from ATI alone do not satisfy the rule; ATI_ONLY's do.
        assert (ati["learners"], ati["recorded_by"]) == ([ATI_ONLY], ATI)
        nsti = (await as_institution(projector, path, NSTI)).json()
        assert nsti["learners"] == []
        assert (await as_institution(projector, path, IHM)).json()["learners"] == []

        # A page looks at `limit` of the institution's learners, and says where to go on.
        first = (await as_institution(projector, path, ATI, limit=1)).json()
        assert (first["learners"], first["next_after_learner"]) == ([], SHARED)
        second = (await as_institution(projector, path, ATI, limit=1, after_learner=SHARED)).json()
        assert second["learners"] == [ATI_ONLY]


async def test_a_redemption_of_another_institutions_pass_stays_out_of_each_ones_view(
    database_url: str, nats: NatsHandle
) -> None:
    # ATI redeems NSTI's CNC-FUND of SHARED: NSTI recorded no redemption, and ATI's view
    # holds none of NSTI's passes, so neither view shows it; the whole history does.
    async with (
        served_ledger(database_url, nats.url) as ledger,
        running_projector(ledger, database_url, nats.url) as projector,
    ):
        fund, _ = await record_pass(ledger, SHARED, NSTI, "CNC-FUND", "2026-01-15")
        await record_pass(ledger, SHARED, ATI, "CNC-ADV", "2026-05-10")
        redeemed = credits_redeemed(passes=[(NSTI, fund)], learner_id=SHARED, institution_id=ATI)
        assert (await ledger.append(redeemed, ATI)).status_code == 201
        await projector.caught_up()
        path = f"/v1/learners/{SHARED}/credit-bank"

        whole = (await projector.get(path)).json()["credit_bank"]
        assert [p["assessment_id"] for p in whole["redeemed"]] == [fund]
        for institution, held in ((NSTI, ["CNC-FUND"]), (ATI, ["CNC-ADV"])):
            answer = await as_institution(projector, path, institution)
            assert answer.status_code == 200, answer.text
            bank = answer.json()["credit_bank"]
            assert (pass_codes(answer.json()), bank["redeemed"]) == (held, []), institution
