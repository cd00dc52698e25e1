"""Server-rendered pages, built one way in every service: autoescaped Jinja templates from
the service's own folder, answered with headers that keep them uncached, unframed and
free of any script or resource from elsewhere.

A page's styles are inline (``style-src 'unsafe-inline'``) and it loads nothing else, so
it works with JavaScript off and with no network beyond its own service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
from litestar import MediaType, Response
from litestar.datastructures import Cookie

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def templates(folder: Path) -> jinja2.Environment:
    """The templates of ``folder``, every value escaped unless a template says otherwise,
    and a name a template uses but was not given an error instead of an empty string."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def html_page(
    body: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    cookies: Sequence[Cookie] = (),
) -> Response[str]:
    return Response(
        body,
        status_code=status,
        media_type=MediaType.HTML,
        headers={**PAGE_HEADERS, **(headers or {})},
        cookies=list(cookies),
    )
