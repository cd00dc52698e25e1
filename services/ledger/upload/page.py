"""``/upload``: the server-rendered upload page of institution staff (no JavaScript).

- ``GET /upload``: the sign-in form, or, in a session, the upload form.
- ``POST /upload/sign-in``: the institution's key, checked once, opens a session
  (``sessions.py``); the browser keeps only the session's cookie.
- ``POST /upload``: a CSV file of one kind (``proto.csv_rows.KINDS``), recorded row by row
  (``recording.py``) or, with "check only", validated; the answer is the page with a report
  of every row, and the report as a CSV download.
- ``POST /upload/sign-out`` ends the session.

Every form carries a token (the session's, or before sign-in a cookie's twin), and a post a
browser says comes from another site is refused, so no other site can post in the
staff's name. The pages are never cached and never framed.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hmac
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import Cookie, UploadFile
from litestar.handlers import HTTPRouteHandler

from proto.csv_rows import KINDS, RowOutcome, all_in, checked, read_rows, report_rows, summary
from proto.envelope import Role
from services.common.http.pages import PAGE_HEADERS, html_page, templates
from services.ledger.runtime import Runtime
from services.ledger.upload.recording import record_rows
from services.ledger.upload.sessions import COOKIE_NAME, UploadSession

SIGN_IN_COOKIE = "upload_sign_in"
ROWS_SHOWN_MAX = 2_000
OK_OUTCOMES = ("recorded", "duplicate", "checked")
# Enough for the multipart framing and the other fields around the file.
FORM_OVERHEAD_BYTES = 64 * 1024
_templates = templates(Path(__file__).parent / "templates")


@dataclass(frozen=True)
class Report:
    file_name: str
    check: bool
    outcomes: Sequence[RowOutcome]

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def rows(self) -> Sequence[RowOutcome]:
        return self.outcomes[:ROWS_SHOWN_MAX]

    @property
    def shown(self) -> int:
        return len(self.rows)

    @property
    def summary(self) -> str:
        return summary(self.outcomes)

    @property
    def all_in(self) -> bool:
        return all_in(self.outcomes)

    @property
    def download_name(self) -> str:
        return f"{Path(self.file_name).stem or 'upload'}.report.csv"

    @property
    def download_url(self) -> str:
        text = io.StringIO()
        csv.writer(text).writerows(report_rows(self.outcomes))
        return "data:text/csv;charset=utf-8;base64," + base64.b64encode(
            text.getvalue().encode()
        ).decode("ascii")


def upload_routes(max_bytes: int) -> list[HTTPRouteHandler]:
    """The page's routes; ``max_bytes`` bounds an uploaded file (``CREDIT_LEDGER_UPLOAD_MAX_BYTES``)."""
    upload = post(
        "/upload",
        media_type=MediaType.HTML,
        include_in_schema=False,
        request_max_body_size=max_bytes + FORM_OVERHEAD_BYTES,
    )(upload_file)
    return [upload_page, sign_in, sign_out, upload]


@get("/upload", media_type=MediaType.HTML, include_in_schema=False)
async def upload_page(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    return _page(runtime, await _session(request, runtime))


@post("/upload/sign-in", media_type=MediaType.HTML, include_in_schema=False)
async def sign_in(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    if (refusal := _cross_site(request)) is not None:
        return _page(runtime, None, problem=refusal, status=403)
    form = await request.form()
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not _same(expected, str(form.get("csrf_token", ""))):
        problem = "The sign-in form had expired. Enter the key again."
        return _page(runtime, None, problem=problem, status=403)
    actor = await runtime.authenticator.authenticate(str(form.get("api_key", "")).strip())
    if actor is None:
        problem = "The ledger does not know this key, or it has been revoked."
        return _page(runtime, None, problem=problem, status=401)
    if actor.role is not Role.INSTITUTION or actor.institution_id is None:
        problem = (
            f"This is a key of the role {actor.role}; uploading needs an institution's key,"
            " since the rows are recorded as the institution's own."
        )
        return _page(runtime, None, problem=problem, status=403)
    sessions = runtime.upload_sessions
    cookie = Cookie(
        key=COOKIE_NAME,
        value=await sessions.open(actor),
        path="/upload",
        max_age=int(sessions.lifetime.total_seconds()),
        secure=True,
        httponly=True,
        samesite="strict",
    )
    gone = Cookie(key=SIGN_IN_COOKIE, value="", path="/upload", max_age=0)
    return _redirect_to_page(cookies=[cookie, gone])


@post("/upload/sign-out", media_type=MediaType.HTML, include_in_schema=False)
async def sign_out(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    session = await _session(request, runtime)
    if session is not None:
        form = await request.form()
        if _cross_site(request) or not session.csrf_matches(str(form.get("csrf_token", ""))):
            return _page(runtime, session, problem=_FORM_REFUSED, status=403)
        await runtime.upload_sessions.close(request.cookies[COOKIE_NAME])
    gone = Cookie(key=COOKIE_NAME, value="", path="/upload", max_age=0)
    return _redirect_to_page(cookies=[gone])


async def upload_file(request: Request[Any, Any, Any], runtime: Runtime) -> Response[str]:
    """``POST /upload`` (its body limit is set by ``upload_routes``)."""
    session = await _session(request, runtime)
    if session is None:
        problem = (
            "Your session has ended (or the key was revoked). Sign in again, then upload the file."
        )
        return _page(runtime, None, problem=problem, status=401)
    if _cross_site(request):
        return _page(runtime, session, problem=_FORM_REFUSED, status=403)
    max_bytes = runtime.settings.ledger.upload_max_bytes
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > max_bytes + FORM_OVERHEAD_BYTES:
        return _page(runtime, session, problem=_too_big(max_bytes), status=413)
    form = await request.form()
    if not session.csrf_matches(str(form.get("csrf_token", ""))):
        return _page(runtime, session, problem=_FORM_REFUSED, status=403)
    kind = str(form.get("kind", ""))
    if kind not in KINDS:
        problem = f"Choose what the file holds: one of {', '.join(KINDS)}."
        return _page(runtime, session, problem=problem, status=422)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(
            runtime, session, problem="Choose a CSV file to upload.", status=422, kind=kind
        )
    content = await upload.read()
    if len(content) > max_bytes:
        return _page(runtime, session, problem=_too_big(max_bytes), status=413, kind=kind)
    assert session.actor.institution_id is not None  # only an institution's key signs in
    try:
        parsed, invalid = read_rows(
            iter(io.StringIO(content.decode("utf-8-sig"), newline="")),
            session.actor.institution_id,
            KINDS[kind],
        )
    except UnicodeDecodeError:
        problem = "The file is not UTF-8 text. Save it from the spreadsheet as “CSV UTF-8”."
        return _page(runtime, session, problem=problem, status=422, kind=kind)
    except (ValueError, csv.Error) as error:
        problem = f"The file cannot be read: {error}."
        return _page(runtime, session, problem=problem, status=422, kind=kind)
    check = form.get("check") == "1"
    if check:
        outcomes = checked(parsed, invalid)
    else:
        request_id = str(request.scope.get("state", {}).get("request_id", ""))
        recorded = await record_rows(
            runtime.store,
            parsed,
            session.actor,
            request_id,
            runtime.settings.ledger.batch_events_max,
        )
        outcomes = sorted([*recorded, *invalid], key=lambda o: o.row)
    return _page(runtime, session, report=Report(upload.filename, check, outcomes), kind=kind)


_FORM_REFUSED = (
    "This form did not come from this page (or it is from an earlier session). Nothing was"
    " changed; try again from this page."
)


def _too_big(max_bytes: int) -> str:
    return (
        f"The file is over {max_bytes / 2**20:g} MiB. Split it into smaller files; each"
        " can be uploaded on its own."
    )


async def _session(request: Request[Any, Any, Any], runtime: Runtime) -> UploadSession | None:
    return await runtime.upload_sessions.find(request.cookies.get(COOKIE_NAME))


def _cross_site(request: Request[Any, Any, Any]) -> str | None:
    """Why a post is refused as another site's, or ``None``: the browser's own
    ``Sec-Fetch-Site`` first, else an ``Origin`` that is not this server."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return _FORM_REFUSED
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if site is None and origin not in (None, "null", own):
        return _FORM_REFUSED
    return None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _redirect_to_page(cookies: list[Cookie]) -> Response[str]:
    # 303: the browser follows with a GET, so a reload does not post the form again.
    return Response(
        "", status_code=303, headers={**PAGE_HEADERS, "Location": "/upload"}, cookies=cookies
    )


def _page(
    runtime: Runtime,
    session: UploadSession | None,
    *,
    problem: str | None = None,
    report: Report | None = None,
    status: int = 200,
    kind: str = "passes",
) -> Response[str]:
    cookies: list[Cookie] = []
    sign_in_token = ""
    if session is None:
        # A fresh twin for each sign-in form: the cookie and the form must match.
        sign_in_token = secrets.token_urlsafe(32)
        cookies.append(
            Cookie(
                key=SIGN_IN_COOKIE,
                value=sign_in_token,
                path="/upload",
                secure=True,
                httponly=True,
                samesite="strict",
            )
        )
    max_bytes = runtime.settings.ledger.upload_max_bytes
    hours = runtime.upload_sessions.lifetime / dt.timedelta(hours=1)
    title = "Sign in to upload" if session is None else "Upload results"
    body = _templates.get_template("upload.html").render(
        title=title,
        session=session,
        problem=problem,
        report=report,
        kinds=list(KINDS.items()),
        chosen_kind=kind,
        ok_outcomes=OK_OUTCOMES,
        max_mib=f"{max_bytes / 2**20:g}",
        session_hours=f"{hours:g}",
        sign_in_token=sign_in_token,
    )
    return html_page(body, status=status, cookies=cookies)
