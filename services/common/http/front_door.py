"""What a person meets first on a service's port: a page at ``/`` that links the docs, the
health checks and the service's own pages; Swagger UI at ``/schema/swagger`` served from
the assets of a Python package (``swagger-ui-bundle-v2``), so the docs load with no
network; and the operations of the OpenAPI document grouped by tag."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from litestar import MediaType, Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from services.common.http.answers import http_handlers

ASSETS_PATH = "/schema/assets"
_ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css")
COMMON_LINKS = (
    ("API docs (Swagger UI)", "/schema/swagger"),
    ("OpenAPI document", "/schema/openapi.json"),
    ("liveness", "/health"),
    ("readiness", "/ready"),
    ("Prometheus metrics", "/metrics"),
)


@dataclass(frozen=True)
class FrontDoor:
    """A service's landing page and tags: ``tags`` maps path prefixes to tag names, the
    first prefix that matches a route wins (a route that names its own tags keeps them)."""

    title: str
    summary: str
    tags: Sequence[tuple[str, str]]
    links: Sequence[tuple[str, str]] = field(default_factory=tuple)


def offline_docs(config: OpenAPIConfig) -> OpenAPIConfig:
    """``config`` with Swagger UI loading its scripts, styles and icon from this service."""
    plugin = SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )
    # Set rather than dataclasses.replace, which would read (and warn about) the config's
    # deprecated fields.
    config.render_plugins = [plugin]
    return config


def assets_router() -> Router:
    folder = Path(swagger_ui_path)
    missing = [name for name in _ASSET_FILES if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"swagger-ui-bundle-v2 lacks {missing} in {folder}")
    return create_static_files_router(
        path=ASSETS_PATH, directories=[folder], include_in_schema=False, name="docs-assets"
    )


def tag_routes(routes: Sequence[ControllerRouterHandler], door: FrontDoor) -> None:
    for handler in http_handlers(routes):
        if handler.tags:
            continue
        tag = _tag_of(handler, door.tags)
        if tag is not None:
            handler.tags = [tag]


def landing_page(door: FrontDoor) -> HTTPRouteHandler:
    links = "\n".join(
        f'<li><a href="{html.escape(href)}">{html.escape(label)}</a></li>'
        for label, href in (*door.links, *COMMON_LINKS)
    )
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(door.title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}</style>
</head>
<body>
<main>
<h1>{html.escape(door.title)}</h1>
<p>{html.escape(door.summary)}</p>
<ul>
{links}
</ul>
</main>
</body>
</html>
"""

    @get("/", media_type=MediaType.HTML, include_in_schema=False, sync_to_thread=False)
    def landing() -> str:
        return page

    return landing


def _tag_of(handler: HTTPRouteHandler, rules: Sequence[tuple[str, str]]) -> str | None:
    for prefix, tag in rules:
        if any(path.startswith(prefix) for path in handler.paths):
            return tag
    return None
