"""Python CPU per appended event, from the request body's bytes to the row handed to asyncpg.

What the ledger's append path does in Python for each ``AssessmentPassed``, without the
network, the database or the event loop, so that the figure is steady on a noisy machine:

1. decode the body strictly (``proto.http``'s decoders, as the route does);
2. make the candidates (the route's ``_candidate``) and the stateless checks (``precheck``);
3. decide them against the group's write state and chain them (``GroupBuilder.add``);
4. build ``INSERT_SQL``'s arguments (``append.insert_arguments``).

And, for the award check's own budget (200 µs), an award of ADV-CNC-MACHINING to a learner
holding its five passes: decoding the learner's stream and the rule's stream as
``load_state`` reads them, folding both (``domain``), judging the award and chaining it.

The write state is what ``write_model_store.load_state`` reads for the group (the demo
catalog's institution and micro-credentials, absent assessments, each learner stream's
version); reading it is the database's work and is not counted here. The same code paths
run in the server, so a change shows here first and then in ``bench.ledger_bench``.

    python -m bench.append_cpu              # batches of 1000 and single appends, medians
    python -m bench.append_cpu --rounds 50 --profile out.prof   # cProfile of the batch path
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import re
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.harness.bodies import INSTITUTION, EventFactory
from credit_ledger.demo_catalog import demo_events
from domain.award_check import NoAward, award_for
from domain.catalog import fold_catalog
from domain.credit_bank import fold
from proto import events as ev
from proto.canonical import GENESIS_HASH
from proto.envelope import Actor, Role
from proto.events import event_decoder, stream_of
from proto.http import append_request_decoder, batch_request_decoder
from services.ledger.append import insert_arguments
from services.ledger.event_store import InMemoryEventStore
from services.ledger.group import GroupBuilder, precheck
from services.ledger.http.events import candidate_of
from services.ledger.write_model import Candidate, Changes, WriteState

AWARD_TARGET_US = 200.0
AWARD_CODE = "ADV-CNC-MACHINING"
AWARD_PASSES = ("CNC-FUND", "CNC-PROG", "CNC-ADV", "CNC-MAINT", "CNC-QC")
LEARNER_PATTERN = r"^[0-9]{12}$"
_PATTERN = re.compile(LEARNER_PATTERN)
TARGET_US = 15.0


def catalog_state() -> WriteState:
    """The write state after the demo catalog, as the in-memory twin of the store holds it."""
    store = InMemoryEventStore(LEARNER_PATTERN)
    admin = Actor(role=Role.ADMIN, key_id="bench")
    candidates = [
        Candidate(event_id, event, stream_of(event), None, admin, "bench")
        for event_id, event in demo_events()
    ]
    asyncio.run(store.append(candidates, atomic=True))
    return store._state  # the twin's state, read on purpose


def group_state(catalog: WriteState, candidates: list[Candidate]) -> WriteState:
    """What ``load_state`` gives a group of new passes: the catalog's rows, no assessments
    of these ids, each learner stream at version 0."""
    state = WriteState(
        institutions=dict(catalog.institutions),
        micro_credentials=dict(catalog.micro_credentials),
        qualifications=dict(catalog.qualifications),
        catalog=catalog.catalog,
        changes=Changes(),
    )
    for candidate in candidates:
        event = candidate.event
        state.assessments[(INSTITUTION, event.assessment_id)] = None  # type: ignore[attr-defined]
        state.stream_versions[candidate.stream] = 0
    return state


def _batch_round(catalog: WriteState, factory: EventFactory, size: int) -> float:
    """CPU seconds per event of one batch request of ``size`` passes."""
    body = factory.batch(size)
    actor = Actor(role=Role.INSTITUTION, key_id="bench", institution_id=INSTITUTION)
    preview = [candidate_of(i, actor, "r") for i in batch_request_decoder.decode(body).events]
    state = group_state(catalog, preview)
    now = dt.datetime.now(dt.UTC)
    started = time.process_time()
    request = batch_request_decoder.decode(body)
    candidates = [candidate_of(item, actor, "request") for item in request.events]
    if any(o is not None for o in precheck(candidates, _PATTERN)):
        raise RuntimeError("a bench pass was refused by precheck")
    builder = GroupBuilder(state, {}, 100, GENESIS_HASH, now)
    outcomes = builder.add(candidates, atomic=True)
    insert_arguments(builder.rows)
    elapsed = time.process_time() - started
    if len(builder.rows) != size:
        raise RuntimeError(f"a bench pass was refused: {outcomes[0]}")
    return elapsed / size


def _single_round(catalog: WriteState, factory: EventFactory, size: int) -> float:
    """CPU seconds per event of ``size`` single-event requests sharing one commit group."""
    bodies = [factory.single() for _ in range(size)]
    actor = Actor(role=Role.INSTITUTION, key_id="bench", institution_id=INSTITUTION)
    preview = [candidate_of(append_request_decoder.decode(b), actor, "r") for b in bodies]
    state = group_state(catalog, preview)
    now = dt.datetime.now(dt.UTC)
    started = time.process_time()
    builder = GroupBuilder(state, {}, 100, GENESIS_HASH, now)
    for body in bodies:
        candidate = candidate_of(append_request_decoder.decode(body), actor, "request")
        if precheck([candidate], _PATTERN)[0] is not None:
            raise RuntimeError("a bench pass was refused by precheck")
        builder.add([candidate], atomic=True)
    insert_arguments(builder.rows)
    elapsed = time.process_time() - started
    if len(builder.rows) != size:
        raise RuntimeError("a bench pass was refused")
    return elapsed / size


class _AwardCase:
    """A learner with the five passes of ADV-CNC-MACHINING, in a twin of the store, and the
    award the core justifies: the rows ``load_state`` would read, and the candidate."""

    def __init__(self) -> None:
        store = InMemoryEventStore(LEARNER_PATTERN)
        admin = Actor(role=Role.ADMIN, key_id="bench")
        institution = Actor(role=Role.INSTITUTION, key_id="bench", institution_id=INSTITUTION)
        asyncio.run(
            store.append(
                [Candidate(i, e, stream_of(e), None, admin, "b") for i, e in demo_events()],
                atomic=True,
            )
        )
        learner = "200000000001"
        for n, code in enumerate(AWARD_PASSES):
            passed = ev.AssessmentPassed(
                assessment_id=f"AWARD-{n}",
                learner_id=learner,
                institution_id=INSTITUTION,
                micro_credential_code=code,
                mode=ev.AssessmentMode.TRAINING,
                assessed_on=dt.date(2026, 1, 15),
            )
            candidate = Candidate(
                str(uuid.uuid4()), passed, stream_of(passed), None, institution, "b"
            )
            asyncio.run(store.append([candidate], atomic=True))
        rows = store._rows  # the twin's log, read on purpose
        self.learner = learner
        self.learner_rows = [r for r in rows if r.stream == f"learner-{learner}"]
        self.rule_rows = [r for r in rows if r.stream == f"qualification-{AWARD_CODE}"]
        self.catalog = store._state
        bank = fold(learner, self._decoded(self.learner_rows))
        rule = fold_catalog(self._decoded(self.rule_rows)).current_rule(AWARD_CODE)
        if rule is None:
            raise RuntimeError(f"no {AWARD_CODE} in the demo catalog")
        award = award_for(rule, bank)
        if isinstance(award, NoAward):
            raise RuntimeError(f"the bench learner earns no award: {award}")
        issuer = Actor(role=Role.ISSUER, key_id="bench")
        self.candidate = Candidate(
            str(uuid.uuid4()), award, stream_of(award), len(self.learner_rows), issuer, "b"
        )
        self.head = rows[-1]

    @staticmethod
    def _decoded(rows: list[Any]) -> list[tuple[Any, int, dt.datetime]]:
        return [(event_decoder.decode(r.data_json), r.position, r.recorded_at) for r in rows]


def _award_round(case: _AwardCase, rounds: int) -> float:
    """CPU seconds per award: the streams decoded and folded, the award judged and chained."""
    started = time.process_time()
    for _ in range(rounds):
        state = WriteState(
            awards={case.candidate.event.award_id: None},  # type: ignore[attr-defined]
            stream_versions={case.candidate.stream: len(case.learner_rows)},
            changes=Changes(),
        )
        state.banks[case.learner] = fold(case.learner, case._decoded(case.learner_rows))
        state.catalog = fold_catalog(case._decoded(case.rule_rows))
        builder = GroupBuilder(state, {}, case.head.position, case.head.hash, case.head.recorded_at)
        outcome = builder.add([case.candidate], atomic=True)[0]
        if not builder.rows:
            raise RuntimeError(f"the bench award was refused: {outcome}")
        insert_arguments(builder.rows)
    return (time.process_time() - started) / rounds


def measure_award(rounds: int) -> float:
    case = _AwardCase()
    _award_round(case, 20)
    figures = [_award_round(case, 50) * 1e6 for _ in range(rounds)]
    median = statistics.median(figures)
    print(
        f"{'award check (5 passes)':<34} {median:7.1f} µs/award (median of {rounds};"
        f" min {min(figures):.1f}, max {max(figures):.1f})"
    )
    return median


def measure(
    name: str, one_round: Callable[[WriteState, EventFactory, int], float], rounds: int, size: int
) -> float:
    catalog = catalog_state()
    factory = EventFactory("cpu", 0, "2026-01-15", 100_000)
    one_round(catalog, factory, size)  # warm the caches and the allocator
    figures = [one_round(catalog, factory, size) * 1e6 for _ in range(rounds)]
    median = statistics.median(figures)
    print(
        f"{name:<34} {median:7.1f} µs/event (median of {rounds};"
        f" min {min(figures):.1f}, max {max(figures):.1f})"
    )
    return median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="rounds per path (median)")
    parser.add_argument("--size", type=int, default=1000, help="events per batch or group")
    parser.add_argument("--profile", help="write a cProfile of the batch path here")
    args = parser.parse_args(argv)
    if args.profile:
        catalog = catalog_state()
        factory = EventFactory("cpu", 0, "2026-01-15", 100_000)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.rounds):
            _batch_round(catalog, factory, args.size)
        profiler.disable()
        profiler.dump_stats(args.profile)
        print(f"wrote {args.profile}")
        return 0
    print("Python CPU per AssessmentPassed, body bytes -> INSERT arguments (no I/O)")
    batch = measure(f"batch of {args.size}", _batch_round, args.rounds, args.size)
    single = measure(
        f"single appends, groups of {args.size}", _single_round, args.rounds, args.size
    )
    award = measure_award(args.rounds)
    for label, figure in (("batch", batch), ("single", single)):
        verdict = "PASS" if figure <= TARGET_US else "MISS"
        print(f"target {label}: {figure:.1f} <= {TARGET_US:.0f} µs/event  {verdict}")
    verdict = "PASS" if award <= AWARD_TARGET_US else "MISS"
    print(f"target award check: {award:.1f} <= {AWARD_TARGET_US:.0f} µs/award  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
