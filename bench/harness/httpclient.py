"""HTTP clients for the load generator: a minimal keep-alive HTTP/1.1 client, or httpx.

The raw client costs a fraction of httpx's CPU per request, which matters on a small
machine where the load generator shares the cores with the server it measures. It speaks
only what the ledger answers: a status line, headers, and a Content-Length or chunked body.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol


class HttpClient(Protocol):
    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """(status, body) of one request."""

    async def close(self) -> None: ...


class RawHttpConnection:
    """One persistent HTTP/1.1 connection; one request at a time."""

    def __init__(self, host: str, port: int, token: str | None, timeout_s: float = 60.0) -> None:
        self._host = host
        self._port = port
        self._timeout_s = timeout_s
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self._fixed_headers = (
            f"Host: {host}:{port}\r\nUser-Agent: ledger-bench\r\n{auth}Accept: application/json\r\n"
        ).encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port), self._timeout_s
            )
            self._reader, self._writer = reader, writer
            return reader, writer
        return self._reader, self._writer

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        reused = self._writer is not None
        try:
            return await self._attempt(method, path, body)
        except (asyncio.IncompleteReadError, ConnectionResetError) as error:
            # A keep-alive connection the server closed while it sat idle (uvicorn does
            # after 5 s) fails before any byte of an answer: send once more on a new one.
            # The load generator's requests are appends, each with its own event ids, so
            # a request that did reach the server is not recorded twice.
            partial = isinstance(error, asyncio.IncompleteReadError) and error.partial
            if not reused or partial:
                raise
        return await self._attempt(method, path, body)

    async def _attempt(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._exchange(method, path, body), self._timeout_s)
        except BaseException:
            await self.close()  # the connection's state is unknown: never reuse it
            raise

    async def _exchange(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        reader, writer = await self._connect()
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed_headers
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        writer.write(head + b"\r\n" + (body or b""))
        response_head = await reader.readuntil(b"\r\n\r\n")
        status = int(response_head[9:12])
        lowered = response_head.lower()
        marker = lowered.find(b"\r\ncontent-length:")
        if marker >= 0:
            end = lowered.index(b"\r\n", marker + 2)
            payload = await reader.readexactly(int(lowered[marker + 17 : end]))
        elif b"\r\ntransfer-encoding: chunked" in lowered:
            payload = await _read_chunked(reader)
        else:
            payload = await reader.read()
            await self.close()
            return status, payload
        if b"\r\nconnection: close" in lowered:
            await self.close()
        return status, payload

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2.0)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class HttpxConnection:
    """The same interface over one shared ``httpx.AsyncClient`` (for comparison)."""

    def __init__(self, client: object, token: str | None) -> None:
        import httpx

        if not isinstance(client, httpx.AsyncClient):
            raise TypeError("an httpx.AsyncClient is needed")
        self._client = client
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = await self._client.request(method, path, content=body, headers=headers)
        return response.status_code, response.content

    async def close(self) -> None:
        return None


def shared_httpx_client(host: str, port: int, connections: int) -> object:
    import httpx

    return httpx.AsyncClient(
        base_url=f"http://{host}:{port}",
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=60.0,
    )
