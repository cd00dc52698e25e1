"""One contract, two event stores: the abstract test class both implementations pass.

Subclasses provide the ``store`` fixture (STYLE 6: the in-memory twin and the real
Postgres store are checked by the same tests).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from credit_ledger.demo_catalog import demo_events
from domain.award_check import award_for
from domain.catalog import fold_catalog
from domain.credit_bank import fold
from proto import events as ev
from proto.envelope import Actor, Role
from proto.events import stream_of
from services.ledger.errors import Refused
from services.ledger.event_store import EventStore
from services.ledger.group import Outcome
from services.ledger.write_model import Candidate
from tests.support.chain import first_mismatch

ADMIN = Actor(role=Role.ADMIN, key_id="admin")
NSTI = Actor(role=Role.INSTITUTION, key_id="nsti", institution_id="NSTI-CHENNAI")


def candidate(
    event: ev.Event, actor: Actor, *, event_id: str | None = None, expected: int | None = None
) -> Candidate:
    return Candidate(
        event_id=event_id or str(uuid.uuid4()),
        event=event,
        stream=stream_of(event),
        expected_version=expected,
        actor=actor,
        request_id="contract",
    )


def a_pass(
    assessment_id: str = "A-1", code: str = "CNC-FUND", learner: str = "123456789012"
) -> ev.AssessmentPassed:
    return ev.AssessmentPassed(
        assessment_id=assessment_id,
        learner_id=learner,
        institution_id="NSTI-CHENNAI",
        micro_credential_code=code,
        mode=ev.AssessmentMode.TRAINING,
        assessed_on=dt.date(2026, 3, 1),
    )


async def with_catalog(store: EventStore) -> None:
    outcomes = await store.append(
        [candidate(e, ADMIN, event_id=i) for i, e in demo_events()], atomic=True
    )
    assert not any(isinstance(o, Refused) for o in outcomes)


async def one(store: EventStore, c: Candidate) -> Outcome:
    return (await store.append([c], atomic=True))[0]


class EventStoreContract:
    async def test_positions_start_at_one_and_have_no_gaps(self, store: EventStore) -> None:
        await with_catalog(store)
        for n in range(5):
            await one(store, candidate(a_pass(f"A-{n}"), NSTI))
        events = await store.read_log(0, 1000)
        assert [e.position for e in events] == list(range(1, len(events) + 1))
        assert (await store.head()).position == len(events)

    async def test_a_pass_keeps_the_catalog_as_it_stood(self, store: EventStore) -> None:
        await with_catalog(store)
        await one(store, candidate(a_pass(), NSTI))
        recorded = (await store.read_stream("learner-123456789012", 0, 10))[0]
        assert isinstance(recorded.data, ev.AssessmentPassed)
        assert recorded.data.catalog_snapshot == ev.CatalogSnapshot(
            version=1, level="4", notional_hours=60, sector="CAPITAL-GOODS", validity_years=7
        )

    async def test_a_retry_returns_the_original_result(self, store: EventStore) -> None:
        await with_catalog(store)
        event_id = str(uuid.uuid4())
        first = await one(store, candidate(a_pass(), NSTI, event_id=event_id))
        again = await one(store, candidate(a_pass(), NSTI, event_id=event_id))
        assert not isinstance(first, Refused)
        assert not isinstance(again, Refused)
        assert (again.position, again.hash, again.duplicate) == (first.position, first.hash, True)

    async def test_the_same_event_id_with_other_content_conflicts(self, store: EventStore) -> None:
        await with_catalog(store)
        event_id = str(uuid.uuid4())
        await one(store, candidate(a_pass(), NSTI, event_id=event_id))
        other = await one(store, candidate(a_pass(code="CNC-PROG"), NSTI, event_id=event_id))
        assert isinstance(other, Refused)
        assert (other.status, other.code) == (409, "event_id_conflict")

    async def test_a_wrong_expected_version_writes_nothing(self, store: EventStore) -> None:
        await with_catalog(store)
        before = await store.head()
        stale = await one(store, candidate(a_pass(), NSTI, expected=3))
        assert isinstance(stale, Refused)
        assert stale.code == "wrong_expected_version"
        assert await store.head() == before

    async def test_an_atomic_batch_with_one_bad_item_writes_nothing(
        self, store: EventStore
    ) -> None:
        await with_catalog(store)
        before = await store.head()
        outcomes = await store.append(
            [candidate(a_pass("B-1"), NSTI), candidate(a_pass("B-2", code="NO-SUCH-CODE"), NSTI)],
            atomic=True,
        )
        assert [getattr(o, "code", None) for o in outcomes] == [
            "batch_refused",
            "unknown_micro_credential",
        ]
        assert await store.head() == before

    async def test_items_of_a_batch_see_each_other(self, store: EventStore) -> None:
        await with_catalog(store)
        issued = ev.CredentialIssued(
            credential_id="C-1",
            assessment_id="A-1",
            learner_id="123456789012",
            institution_id="NSTI-CHENNAI",
            micro_credential_code="CNC-FUND",
            issued_on=dt.date(2026, 3, 2),
        )
        outcomes = await store.append(
            [candidate(a_pass(), NSTI), candidate(issued, NSTI)], atomic=True
        )
        assert not any(isinstance(o, Refused) for o in outcomes)

    async def test_another_institutions_name_is_refused_before_any_state(
        self, store: EventStore
    ) -> None:
        await with_catalog(store)
        other = Actor(role=Role.INSTITUTION, key_id="ati", institution_id="ATI-MUMBAI")
        refused = await one(store, candidate(a_pass(), other))
        assert isinstance(refused, Refused)
        assert (refused.status, refused.code) == (403, "not_own_institution")

    async def test_the_chain_verifies_independently(self, store: EventStore) -> None:
        await with_catalog(store)
        for n in range(3):
            await one(store, candidate(a_pass(f"C-{n}", learner=f"12345678900{n}"), NSTI))
        events: list[dict[str, Any]] = msgspec.to_builtins(await store.read_log(0, 1000))
        assert first_mismatch(events) is None

    async def test_a_refused_redemption_redeems_nothing(self, store: EventStore) -> None:
        await with_catalog(store)
        await one(store, candidate(a_pass("R-1"), NSTI))
        ati = Actor(role=Role.INSTITUTION, key_id="ati", institution_id="ATI-MUMBAI")

        def redemption(*assessments: str) -> ev.CreditsRedeemed:
            return ev.CreditsRedeemed(
                redemption_id=f"RDM-{len(assessments)}",
                learner_id="123456789012",
                institution_id="ATI-MUMBAI",
                passes=[
                    ev.PassRef(institution_id="NSTI-CHENNAI", assessment_id=a) for a in assessments
                ],
                programme="B.Voc. Manufacturing",
            )

        refused = await one(store, candidate(redemption("R-1", "NOT-HELD"), ati))
        assert isinstance(refused, Refused)
        assert refused.code == "pass_not_held"
        # The held pass was not half-redeemed by the refused event: it can still be redeemed.
        assert not isinstance(await one(store, candidate(redemption("R-1"), ati)), Refused)

    async def test_only_the_award_the_core_computes_is_appended_and_only_once(
        self, store: EventStore
    ) -> None:
        await with_catalog(store)
        modules = ("CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-MAINT", "CNC-QC")
        for n, code in enumerate(modules):
            await one(store, candidate(a_pass(f"W-{n}", code), NSTI))
        rows = await store.read_stream("learner-123456789012", 0, 100)
        bank = fold("123456789012", ((r.data, r.position, r.recorded_at) for r in rows))
        log = await store.read_log(0, 1000)
        catalog = fold_catalog((r.data, r.position, r.recorded_at) for r in log)
        rule = catalog.current_rule("ADV-CNC-MACHINING")
        assert rule is not None
        genuine = award_for(rule, bank)
        assert isinstance(genuine, ev.QualificationAwarded)
        issuer = Actor(role=Role.ISSUER, key_id="issuer")
        short = msgspec.structs.replace(genuine, components=genuine.components[:-1])
        refused = await one(store, candidate(short, issuer, expected=len(rows)))
        assert isinstance(refused, Refused)
        assert (refused.status, refused.code) == (422, "award_components_mismatch")
        accepted = await one(
            store, candidate(genuine, issuer, event_id=genuine.award_id, expected=len(rows))
        )
        assert not isinstance(accepted, Refused)
        again = msgspec.structs.replace(
            genuine,
            award_id=str(uuid.uuid4()),
            decided_at_position=(await store.head()).position,
        )
        duplicate = await one(store, candidate(again, issuer, expected=len(rows) + 1))
        assert isinstance(duplicate, Refused)
        assert (duplicate.status, duplicate.code) == (409, "duplicate_award")
