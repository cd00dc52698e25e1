"""Which grants are in force (pure): from the recording to the end of ``valid_until``, or
to a withdrawal; a withdrawal of a grant never made changes nothing."""

from __future__ import annotations

import datetime as dt

from domain.consent import grants_of, may_read_whole_bank
from proto import events as ev

LEARNER = "123456789012"
G1, G2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


def _granted(grant_id: str, grantee: str, until: dt.date | None = None) -> ev.ConsentGranted:
    return ev.ConsentGranted(
        grant_id=grant_id, learner_id=LEARNER, grantee_institution_id=grantee, valid_until=until
    )


def test_a_grant_is_in_force_through_its_last_day_and_until_withdrawn() -> None:
    grants = grants_of(
        [(_granted(G1, "ACME", dt.date(2027, 1, 31)), 10), (_granted(G2, "ATI"), 11)]
    )
    assert may_read_whole_bank(grants, "ACME", dt.date(2027, 1, 31))
    assert not may_read_whole_bank(grants, "ACME", dt.date(2027, 2, 1))
    assert may_read_whole_bank(grants, "ATI", dt.date(2099, 1, 1))
    assert not may_read_whole_bank(grants, "NSTI", dt.date(2027, 1, 1))

    withdrawn = grants_of(
        [
            (_granted(G2, "ATI"), 11),
            (ev.ConsentWithdrawn(grant_id=G2, learner_id=LEARNER), 12),
            (ev.ConsentWithdrawn(grant_id=G1, learner_id=LEARNER), 13),  # never granted
        ]
    )
    assert [g.withdrawn_at for g in withdrawn] == [12]
    assert not may_read_whole_bank(withdrawn, "ATI", dt.date(2027, 1, 1))


def test_consent_never_changes_what_the_bank_holds() -> None:
    from domain.credit_bank import empty_bank, evolve

    bank = empty_bank(LEARNER)
    at = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    after = evolve(bank, _granted(G1, "ACME"), 5, at)
    assert after.passes == bank.passes
    assert after.position == 5
