"""The fair-share rule (services/ledger/fair_share.py): only under contention, never below a
full batch, counting every process's waiting events."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.ledger.fair_share import share_refused

SHARE, MIN = 4000, 1000


def test_a_key_alone_is_never_throttled() -> None:
    assert (
        share_refused("bulk", 1000, {"bulk": 50_000}, {}, share_events=SHARE, min_share=MIN) is None
    )


def test_a_key_over_its_share_while_another_waits_is_refused() -> None:
    here = {"bulk": 1500, "small": 1}
    assert share_refused("bulk", 1000, here, {}, share_events=SHARE, min_share=MIN) == 2000
    assert share_refused("small", 1, here, {}, share_events=SHARE, min_share=MIN) is None


def test_other_processes_count_towards_contention_and_the_share() -> None:
    # Alone in this process, but another process has the small key waiting, and more of
    # the bulk key's events.
    assert (
        share_refused("bulk", 500, {"bulk": 100}, {"small": 1}, share_events=SHARE, min_share=MIN)
        is None
    )
    assert (
        share_refused(
            "bulk",
            500,
            {"bulk": 100},
            {"small": 1, "bulk": 1600},
            share_events=SHARE,
            min_share=MIN,
        )
        == 2000
    )


def test_the_share_never_falls_below_one_full_batch() -> None:
    many = {f"k{n}": 1 for n in range(40)}
    assert share_refused("k0", 999, many, {}, share_events=SHARE, min_share=MIN) is None
    assert share_refused("k0", 1000, many, {}, share_events=SHARE, min_share=MIN) == MIN


@given(
    st.dictionaries(st.sampled_from("abcde"), st.integers(0, 5000)),
    st.dictionaries(st.sampled_from("abcde"), st.integers(0, 5000)),
    st.sampled_from("abcde"),
    st.integers(1, 1000),
)
def test_an_admitted_request_keeps_its_key_within_the_share(
    here: dict[str, int], elsewhere: dict[str, int], key: str, events: int
) -> None:
    refused = share_refused(key, events, here, elsewhere, share_events=SHARE, min_share=MIN)
    waiting = {k: here.get(k, 0) + elsewhere.get(k, 0) for k in {*here, *elsewhere, key}}
    contenders = [k for k, n in waiting.items() if n > 0 or k == key]
    if len(contenders) < 2:
        assert refused is None
    elif refused is None:
        assert waiting[key] + events <= max(MIN, SHARE // len(contenders))
    else:
        assert waiting[key] + events > refused
