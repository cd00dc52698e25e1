"""Python's cyclic garbage collector, kept off a service's hot path.

A full (generation-2) collection walks every tracked object. In a service that holds its
modules, its app and a cache of thousands of learners' banks, that walk stalled the event
loop for up to 185 ms at a time (the live projector under ``bench.projector_bench``,
measured with ``gc.callbacks``): a stall that every event in flight waits out, and that
puts the lag's p99 past its target. Two remedies, both without turning the collector off:

- ``gc.freeze()`` once what a service builds at start-up is built: those objects live as
  long as the process, so no collection needs to walk them again;
- a higher first threshold, so the young generation is collected less often and fewer
  short-lived objects survive into the older ones (each batch of events allocates and
  frees tens of thousands of objects, nearly all freed by reference counting).
"""

from __future__ import annotations

import gc

# CPython's default is 700 allocations; 50,000 keeps a young collection in the milliseconds.
YOUNG_THRESHOLD = 50_000


_settled = False


def settle_long_lived() -> None:
    """Everything tracked so far is frozen out of future collections, once per process: a
    process that builds apps again and again (the test suite) would otherwise keep every
    earlier app's garbage for ever, frozen objects being never collected."""
    global _settled
    if not _settled:
        gc.collect()
        gc.freeze()
        _settled = True
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
