"""The Litestar application of every service, built one way.

Each service brings its routes, its lifespan (which puts the service's runtime on
``app.state.runtime``), its OpenAPI description and its middleware; every route handler
receives the runtime as its ``runtime`` parameter. Every answer a route can give in its
OpenAPI document (``answers``), problem+json for every error (a service
may add handlers of its own to ``problems.EXCEPTION_HANDLERS``), the
request-id and access-log layer around everything, no framework logging (the process
configures logging once, ``services.common.logs``), no debug pages, and the front door
(``front_door``: a page at ``/``, offline API docs, operations grouped by tag).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.types import ASGIApp, ControllerRouterHandler, ExceptionHandlersMap, Middleware

from services.common.http.answers import complete_document, declare_derived_answers
from services.common.http.front_door import (
    FrontDoor,
    assets_router,
    landing_page,
    offline_docs,
    tag_routes,
)
from services.common.http.problems import EXCEPTION_HANDLERS
from services.common.http.request_id import with_request_layer

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]
# Read-only services take no bodies to speak of; a service that does names its own bound.
REQUEST_BODY_MAX_BYTES = 1024 * 1024


def service_app(
    *,
    routes: Sequence[ControllerRouterHandler],
    lifespan: Lifespan,
    openapi_config: OpenAPIConfig,
    front_door: FrontDoor,
    middleware: Sequence[Middleware] = (),
    exception_handlers: ExceptionHandlersMap = EXCEPTION_HANDLERS,
    request_max_body_size: int = REQUEST_BODY_MAX_BYTES,
    inner_layer: Callable[[Litestar, ASGIApp], ASGIApp] | None = None,
) -> Litestar:
    """``inner_layer(app, handler)``, if given, wraps the app's ASGI handler inside the
    request-id and access-log layer (a service's own shortcut past the framework)."""

    def runtime_of() -> Any:
        return app.state.runtime

    declare_derived_answers(routes, openapi_config.security)
    tag_routes(routes, front_door)
    app = Litestar(
        route_handlers=[*routes, landing_page(front_door), assets_router()],
        dependencies={"runtime": Provide(runtime_of, sync_to_thread=False)},
        middleware=list(middleware),
        exception_handlers=exception_handlers,
        lifespan=[lifespan],
        openapi_config=offline_docs(openapi_config),
        request_max_body_size=request_max_body_size,
        debug=False,
        logging_config=None,
    )
    complete_document(app)
    if inner_layer is not None:
        app.asgi_handler = inner_layer(app, app.asgi_handler)
    return with_request_layer(app)
