"""A 500 speaks of retrying with the same event_id only where there is one: on writes."""

from __future__ import annotations

from litestar import Litestar, get, post
from litestar.testing import TestClient

from services.common.http.problems import EXCEPTION_HANDLERS, internal_error_detail


@get("/boom")
async def read_boom() -> None:
    raise RuntimeError("a read failed")


@post("/boom")
async def write_boom() -> None:
    raise RuntimeError("a write failed")


def test_the_detail_names_the_retry_only_for_writes() -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE", "post"):
        assert "retry with the same event_id" in internal_error_detail(method)
    for method in ("GET", "HEAD", "OPTIONS"):
        assert "retry" not in internal_error_detail(method)


def test_a_failed_read_and_a_failed_write_answer_accordingly() -> None:
    app = Litestar([read_boom, write_boom], exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app) as client:
        read = client.get("/boom")
        write = client.post("/boom")
    for response in (read, write):
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "internal"
    assert "retry" not in read.json()["detail"]
    assert "retry with the same event_id" in write.json()["detail"]
