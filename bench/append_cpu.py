"""Python CPU per appended event, from the request body's bytes to the row handed to asyncpg.

What the ledger's append path does in Python for each ``AssessmentPassed``, without the
network, the database or the event loop, so that the figure is steady on a noisy machine:

1. decode the body strictly (``proto.http``'s decoders, as the route does);
2. make the candidates (the route's ``_candidate``) and the stateless checks (``precheck``);
3. decide them against the group's write state and chain them (``GroupBuilder.add``);
4. build ``INSERT_SQL``'s arguments (``append.insert_arguments``).

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
from collections.abc import Callable

from bench.harness.bodies import INSTITUTION, EventFactory
from credit_ledger.demo_catalog import demo_events
from proto.canonical import GENESIS_HASH
from proto.envelope import Actor, Role
from proto.events import stream_of
from proto.http import append_request_decoder, batch_request_decoder
from services.ledger.append import insert_arguments
from services.ledger.event_store import InMemoryEventStore
from services.ledger.group import GroupBuilder, precheck
from services.ledger.http.events import _candidate
from services.ledger.write_model import Candidate, Changes, WriteState

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
    preview = [_candidate(i, actor, "r") for i in batch_request_decoder.decode(body).events]
    state = group_state(catalog, preview)
    now = dt.datetime.now(dt.UTC)
    started = time.process_time()
    request = batch_request_decoder.decode(body)
    candidates = [_candidate(item, actor, "request") for item in request.events]
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
    preview = [_candidate(append_request_decoder.decode(b), actor, "r") for b in bodies]
    state = group_state(catalog, preview)
    now = dt.datetime.now(dt.UTC)
    started = time.process_time()
    builder = GroupBuilder(state, {}, 100, GENESIS_HASH, now)
    for body in bodies:
        candidate = _candidate(append_request_decoder.decode(body), actor, "request")
        if precheck([candidate], _PATTERN)[0] is not None:
            raise RuntimeError("a bench pass was refused by precheck")
        builder.add([candidate], atomic=True)
    insert_arguments(builder.rows)
    elapsed = time.process_time() - started
    if len(builder.rows) != size:
        raise RuntimeError("a bench pass was refused")
    return elapsed / size


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
    for label, figure in (("batch", batch), ("single", single)):
        verdict = "PASS" if figure <= TARGET_US else "MISS"
        print(f"target {label}: {figure:.1f} <= {TARGET_US:.0f} µs/event  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
