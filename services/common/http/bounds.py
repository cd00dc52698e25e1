"""Bounds on path and query parameters: the largest values the database's integer columns
hold (a value past them is a 422 naming the parameter, not a driver overflow, a 500), and
the shapes of text parameters.
"""

from __future__ import annotations

from typing import Any, get_args

import msgspec
from litestar.params import Parameter, ParameterKwarg

# PostgreSQL bigint: log positions, stream versions, tree sizes.
BIGINT_MAX = 2**63 - 1
# PostgreSQL integer: status list ids.
INTEGER_MAX = 2**31 - 1


def shaped(constrained: Any, description: str | None = None) -> ParameterKwarg:
    """A text parameter of one of ``proto.types``' shapes, enforced and documented: a value
    of any other shape (a NUL byte, which PostgreSQL text cannot hold, among them) is a 422
    naming the parameter, never a query that fails."""
    for meta in get_args(constrained)[1:]:
        if isinstance(meta, msgspec.Meta) and meta.pattern is not None:
            shape: ParameterKwarg = Parameter(
                pattern=meta.pattern, description=description or meta.description
            )
            return shape
    raise TypeError(f"{constrained!r} names no pattern")
