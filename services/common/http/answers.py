"""Every answer a route can give, in its OpenAPI document.

A route declares what only it knows: the refusals of its own logic (a 404 for an unknown
id, a 409, a 503), with ``problem_answers``. What follows from how the route is served is
derived here, so no route can forget it:

- 401 when the route needs an API key (its document's security is not ``NO_CREDENTIALS``);
- 403 when a guard admits only some roles;
- 422 ``invalid_parameter`` when it takes path or query parameters;
- 400, 413 and 422 ``invalid_body`` when it takes a body.

Each is problem+json (``Problem``). Litestar's own generic 400, which it documents for
any route with parameters, is dropped: bad parameters are answered with a 422 here
(``problems._on_http``), so a 400 is documented only where a route declares one. A route
that answers one status in several content types names the others in ``opt[ALSO_ANSWERS]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.routes import HTTPRoute
from litestar.types import ControllerRouterHandler

from proto.envelope import Role
from services.common.http.auth import RoleGuard
from services.common.http.problems import PROBLEM_MEDIA_TYPE, Problem
from services.common.openapi import NO_CREDENTIALS

Security = Sequence[Mapping[str, Sequence[str]]] | None

# Handler parameters that are not the client's: Litestar's reserved names and the runtime.
NOT_CLIENT_PARAMETERS = frozenset(
    {"request", "runtime", "state", "scope", "headers", "cookies", "query", "socket", "body"}
)
MALFORMED = "Malformed JSON, or a body of the wrong content type."
TOO_LARGE = "Request body over the limit."
INVALID_BODY = "Well-formed JSON of the wrong shape (code invalid_body)."
INVALID_PARAMETER = (
    "A path or query parameter out of shape or range (code invalid_parameter; the detail"
    " names the parameter)."
)
UNAUTHENTICATED = "No API key, or one the ledger does not know or has revoked."
# A handler's opt key: {status: media type, or several} it answers besides its declared one.
ALSO_ANSWERS = "also_answers"


def problem_answers(descriptions: Mapping[int, str]) -> dict[int, ResponseSpec]:
    """A route's own refusals: status -> what it means here, each a problem+json body."""
    return {
        status: ResponseSpec(
            Problem, description=text, media_type=PROBLEM_MEDIA_TYPE, generate_examples=False
        )
        for status, text in descriptions.items()
    }


def derived_answers(handler: HTTPRouteHandler, document_security: Security) -> dict[int, str]:
    """The refusals that follow from how the route is served. ``document_security`` is
    what a route that says nothing of its own needs."""
    answers: dict[int, str] = {}
    security = handler.security if handler.security is not None else document_security
    if security and security != NO_CREDENTIALS and not handler.opt.get("exclude_from_auth"):
        answers[401] = UNAUTHENTICATED
    roles = allowed_roles(handler)
    if roles != frozenset(Role):
        names = ", ".join(sorted(str(role) for role in roles))
        answers[403] = f"Only a key of the role {names} may call this."
    parameters = set(handler.parsed_fn_signature.parameters) - NOT_CLIENT_PARAMETERS
    if "data" in parameters:
        answers.update({400: MALFORMED, 413: TOO_LARGE, 422: INVALID_BODY})
    elif parameters or any("{" in path for path in handler.paths):
        answers[422] = INVALID_PARAMETER
    return answers


def allowed_roles(handler: HTTPRouteHandler) -> frozenset[Role]:
    """The roles the route's guards admit (every role when it has none)."""
    roles = frozenset(Role)
    for guard in handler.guards or ():
        if isinstance(guard, RoleGuard):
            roles &= guard.roles
    return roles


def http_handlers(routes: Sequence[ControllerRouterHandler]) -> Iterator[HTTPRouteHandler]:
    for route in routes:
        if isinstance(route, HTTPRouteHandler):
            yield route


def declare_derived_answers(
    routes: Sequence[ControllerRouterHandler], document_security: Security
) -> None:
    """Adds each route's derived refusals to the responses it declares (its own win)."""
    for handler in http_handlers(routes):
        derived = problem_answers(derived_answers(handler, document_security))
        handler.responses = {**derived, **(handler.responses or {})}


def complete_document(app: Litestar) -> None:
    """The last touches to the document the app serves (and ``contracts`` commits): drops
    Litestar's generic 400 (``application/json``) from every operation, and adds the other
    content types a route names in ``opt[ALSO_ANSWERS]`` (status -> media type)."""
    document = app.openapi_schema
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path_item = (document.paths or {}).get(route.path_format)
        for handler in route.route_handlers:
            for method in handler.http_methods:
                operation = getattr(path_item, method.lower(), None)
                if isinstance(operation, Operation) and operation.responses is not None:
                    _complete(operation.responses, handler.opt.get(ALSO_ANSWERS, {}))


def _complete(responses: dict[str, Any], also: Mapping[int, str | Sequence[str]]) -> None:
    generic = responses.get("400")
    if isinstance(generic, OpenAPIResponse) and PROBLEM_MEDIA_TYPE not in (generic.content or {}):
        del responses["400"]
    for status, media_types in also.items():
        answer = responses[str(status)]
        if isinstance(answer, OpenAPIResponse):
            others = (media_types,) if isinstance(media_types, str) else tuple(media_types)
            answer.content = {
                **(answer.content or {}),
                **{media_type: OpenAPIMediaType(schema=Schema()) for media_type in others},
            }
