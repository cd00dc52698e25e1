"""Several statements in one round trip: the ledger's group commit reads and writes this
way, and the projector writes each batch this way.

Sent one by one, statements each wait for a round trip and then for their turn on a busy
event loop; under load that was half of a group commit's time under the append lock.

**Reads.** Several SELECTs answered as one row, each as one JSON column.

A group commit holds the append lock while it reads what its candidates touch (the head,
earlier copies of their event ids, stream versions, institutions, the catalog, earlier
assessments...). Sent as one statement they cost one round trip. The statement runs after
the lock is taken, so its snapshot is the log up to the current head, exactly as the
separate reads saw it.

Each part is ``SELECT ...`` with its own ``{0}``, ``{1}``... placeholders; the parts' rows
come back as a JSON array of objects, decoded by msgspec into the type the caller gives.

**Writes.** Several INSERTs (or UPDATEs) as the data-modifying CTEs of one statement,
which ends with a final SELECT (the append's ``pg_notify``; the projector's counts of what
its parts returned). PostgreSQL runs every CTE to completion even when nothing reads its
output; the parts must not touch the same rows (they run on one snapshot and do not see
each other's effects).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from services.common.db import Conn

T = TypeVar("T")


class _Statement:
    def __init__(self) -> None:
        self._arguments: list[Any] = []

    def _numbered(self, sql: str, arguments: tuple[Any, ...]) -> str:
        """``sql`` with ``{0}``, ``{1}``... as this statement's next ``$n``."""
        first = len(self._arguments) + 1
        self._arguments.extend(arguments)
        return sql.format(*(f"${first + i}" for i in range(len(arguments))))


class CombinedRead(_Statement):
    def __init__(self) -> None:
        super().__init__()
        self._columns: list[str] = []

    def add(self, sql: str, *arguments: Any, order_by: str | None = None) -> int:
        """Adds ``sql`` (placeholders ``{0}``, ``{1}``...); returns its column's index.
        ``order_by`` (a column of ``sql``'s rows) orders the JSON array: an aggregate is not
        promised its subquery's order."""
        numbered = self._numbered(sql, arguments)
        order = f" ORDER BY q.{order_by}" if order_by else ""
        self._columns.append(
            f"(SELECT coalesce(json_agg(q{order}), '[]'::json) FROM ({numbered}) AS q)::text"
        )
        return len(self._columns) - 1

    async def fetch(self, conn: Conn) -> CombinedRows:
        if not self._columns:
            return CombinedRows(())
        row = await conn.fetchrow(f"SELECT {', '.join(self._columns)}", *self._arguments)
        assert row is not None
        return CombinedRows(tuple(row))


class CombinedRows:
    def __init__(self, columns: tuple[str, ...]) -> None:
        self._columns = columns

    def rows(self, index: int, row_type: type[T]) -> list[T]:
        """The rows of part ``index``, each decoded as ``row_type``."""
        return msgspec.json.decode(self._columns[index], type=list[row_type])  # type: ignore[valid-type]


class CombinedWrite(_Statement):
    def __init__(self) -> None:
        super().__init__()
        self._parts: list[str] = []

    def add(self, sql: str, *arguments: Any) -> str:
        """Adds a data-modifying ``sql`` (placeholders ``{0}``, ``{1}``...); returns the
        name its ``RETURNING`` rows go by in the final statement."""
        self._parts.append(self._numbered(sql, arguments))
        return f"w{len(self._parts) - 1}"

    def _statement(self, final_sql: str, arguments: tuple[Any, ...]) -> str:
        final = self._numbered(final_sql, arguments)
        ctes = ", ".join(f"w{i} AS ({part})" for i, part in enumerate(self._parts))
        return f"WITH {ctes} {final}" if ctes else final

    async def execute(self, conn: Conn, final_sql: str, *arguments: Any) -> None:
        """Runs every part, then ``final_sql``, as one statement."""
        await conn.execute(self._statement(final_sql, arguments), *self._arguments)

    async def fetchrow(self, conn: Conn, final_sql: str, *arguments: Any) -> Any:
        """Runs every part, then ``final_sql``, as one statement; returns its one row."""
        return await conn.fetchrow(self._statement(final_sql, arguments), *self._arguments)
