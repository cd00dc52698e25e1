"""The upload page's visitor over plain HTTP (the browser flow is in Chromium)."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import httpx


class Staff:
    """A browser's part: the cookies it was given (kept by hand, since httpx will not send a
    ``Secure`` cookie over plain HTTP) and the form token of the last page."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def _keep(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        found = re.search(r'name="csrf_token" value="([^"]*)"', response.text)
        if found:
            self.csrf = found.group(1)

    def _cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    async def get(self) -> httpx.Response:
        response = await self.client.get("/upload", headers=self._cookie_header())
        self._keep(response)
        return response

    async def post(
        self,
        path: str,
        data: dict[str, str],
        files: dict[str, tuple[str, bytes, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        response = await self.client.post(
            path,
            data={"csrf_token": self.csrf, **data},
            files=files,
            headers={**self._cookie_header(), **(headers or {})},
        )
        self._keep(response)
        return response

    async def sign_in(self, key: str) -> httpx.Response:
        await self.get()
        return await self.post("/upload/sign-in", {"api_key": key})

    async def upload(
        self, content: bytes, kind: str = "passes", check: bool = False, **extra: str
    ) -> httpx.Response:
        data = {"kind": kind, **({"check": "1"} if check else {}), **extra}
        return await self.post(
            "/upload", data, files={"file": ("results.csv", content, "text/csv")}
        )
