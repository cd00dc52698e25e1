"""``credit-ledger import KIND FILE.csv``: an institution's records, a row per event, into
the ledger through its public batch API, with a report of every row.

The rows, their kinds, their deterministic event ids and the report's columns are
``proto.csv_rows``'s (the ledger's upload page reads files the same way). The batch API is
atomic, so when it refuses some rows of a batch, those are reported ``refused`` and the rest
is sent again without them: one bad row never holds back the good ones. ``--check`` reads
and validates the file and sends nothing.

The exit status is 0 when every row is recorded or a duplicate, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx
import msgspec
from tqdm import tqdm

from proto.csv_rows import KINDS, ParsedRow, RowKind, RowOutcome, checked, read_rows, report_rows

BATCH_ROWS = 500
# Batch requests in flight at once: the ledger group-commits concurrent requests together.
CONCURRENT_BATCHES = 4
BUSY_RETRIES = 20


class Importer:
    """Sends parsed rows in batches to ``POST /v1/events/batch`` with the institution's key."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        batch_rows: int = BATCH_ROWS,
        concurrency: int = CONCURRENT_BATCHES,
    ) -> None:
        self._client = client
        self._batch_rows = batch_rows
        self._slots = asyncio.Semaphore(concurrency)

    async def send(self, rows: Sequence[ParsedRow], bar: tqdm[Any] | None) -> list[RowOutcome]:
        """Every row's outcome, ``CONCURRENT_BATCHES`` batches in flight (the event ids
        make the order in which batches land irrelevant to what a re-run writes)."""

        async def one(batch: list[ParsedRow]) -> list[RowOutcome]:
            async with self._slots:
                outcomes = await self._send_batch(batch)
            if bar is not None:
                bar.update(len(batch))
            return outcomes

        batches = [
            list(rows[start : start + self._batch_rows])
            for start in range(0, len(rows), self._batch_rows)
        ]
        done = await asyncio.gather(*(one(batch) for batch in batches))
        return [outcome for outcomes in done for outcome in outcomes]

    async def _send_batch(self, batch: list[ParsedRow]) -> list[RowOutcome]:
        """The batch's outcomes: refused rows dropped and the rest sent again until the
        ledger takes what is left."""
        outcomes: list[RowOutcome] = []
        while batch:
            response = await self._post(batch)
            if response.status_code == 201:
                for parsed, result in zip(batch, response.json(), strict=True):
                    outcome = "duplicate" if result["duplicate"] else "recorded"
                    outcomes.append(RowOutcome(parsed.row, outcome, result["position"]))
                return outcomes
            problem = _problem(response)
            items = problem.get("errors") or []
            if not items:  # the whole request was refused (a bad key, say): every row says so
                code, detail = (
                    problem.get("code", f"http_{response.status_code}"),
                    problem.get("detail", response.text[:200]),
                )
                outcomes += [RowOutcome(p.row, "refused", code=code, message=detail) for p in batch]
                return outcomes
            refused = {int(item["index"]): item for item in items}
            for index, item in refused.items():
                kind = "conflict" if item.get("code") == "event_id_conflict" else "refused"
                outcomes.append(
                    RowOutcome(batch[index].row, kind, code=item["code"], message=item["detail"])
                )
            batch = [p for index, p in enumerate(batch) if index not in refused]
        return outcomes

    async def _post(self, batch: list[ParsedRow]) -> httpx.Response:
        body = {
            "events": [
                {"event_id": str(p.event_id), "event": msgspec.to_builtins(p.event)} for p in batch
            ]
        }
        for _ in range(BUSY_RETRIES):
            response = await self._client.post("/v1/events/batch", json=body)
            if response.status_code not in (429, 503):
                return response
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        return response


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def import_rows(
    path: Path,
    base_url: str,
    api_key: str,
    *,
    check: bool,
    kind: RowKind = KINDS["passes"],
    progress: bool = True,
    batch_rows: int = BATCH_ROWS,
) -> list[RowOutcome]:
    """Every data row's outcome, in file order."""
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        who = await client.get("/v1/whoami")
        if who.status_code != 200:
            raise PermissionError(f"the ledger refused the key: {who.status_code} {who.text[:200]}")
        actor = who.json()
        if actor.get("role") != "institution" or not actor.get("institution_id"):
            raise PermissionError("importing needs an institution key (the rows are its own)")
        with path.open(newline="", encoding="utf-8-sig") as file:
            parsed, invalid = read_rows(iter(file), actor["institution_id"], kind)
        if check:
            return checked(parsed, invalid)
        with tqdm(total=len(parsed), unit="row", desc="import", disable=not progress) as bar:
            sent = await Importer(client, batch_rows).send(parsed, bar)
    return sorted(sent + invalid, key=lambda o: o.row)


def write_report(outcomes: Sequence[RowOutcome], out: TextIO) -> None:
    csv.writer(out).writerows(report_rows(outcomes))
