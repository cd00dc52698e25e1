"""Constrained scalar types used across the contracts."""

from __future__ import annotations

from typing import Annotated

import msgspec

Code = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Z0-9][A-Z0-9_-]{0,63}$",
        description="Upper-case code: letters, digits, '-' and '_', at most 64 characters.",
        examples=["CNC-FUND-01"],
    ),
]
InstitutionId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Z0-9][A-Z0-9_-]{0,63}$",
        description="Institution identifier (upper-case code).",
        examples=["NSTI-CHENNAI"],
    ),
]
Sector = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Z][A-Z0-9-]{1,63}$",
        description="Sector code, e.g. a Sector Skill Council's short name.",
        examples=["CAPITAL-GOODS"],
    ),
]
# Subject-safe shape only; the ledger also enforces the configured learner id pattern
# (default: 12 digits, the APAAR / ABC id format).
LearnerId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Learner id; the ledger enforces its configured pattern (default 12 digits).",
        examples=["123456789012"],
    ),
]
StreamName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z]+-[A-Za-z0-9_-]{1,64}$",
        description="A stream: its kind and the id it is about (docs/architecture.md §2).",
        examples=["learner-123456789012"],
    ),
]
AssessmentId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$",
        description="The institution's own id for an assessment; unique per institution.",
        examples=["ASMT-2026-000123"],
    ),
]
CredentialId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$",
        description="The institution's own id for a credential it issued; unique per institution.",
        examples=["CERT-2026-000123"],
    ),
]
RedemptionId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$",
        description="The redeeming institution's own id for a redemption; unique per institution.",
        examples=["RDM-2026-0007"],
    ),
]
# NSQF / NCrF level in half steps, written as a string so it is exact: "1", "1.5", ... "8".
Level = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([1-7](\.5)?|8)$",
        description="NSQF level, 1 to 8 in half steps, as a string: '4' or '4.5'.",
        examples=["4.5"],
    ),
]
NotionalHours = Annotated[
    int,
    msgspec.Meta(gt=0, le=100_000, description="Notional learning hours (30 hours = 1 credit)."),
]
Version = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Text = Annotated[str, msgspec.Meta(max_length=4000)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
ValidityYears = Annotated[
    int,
    msgspec.Meta(ge=1, le=7, description="Shelf life in years after the assessment date (max 7)."),
]
# Exact share 0..1 as a decimal string ("0.5"), never a float.
Share = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$",
        description="A share between 0 and 1 as a decimal string, e.g. '0.5'.",
        examples=["0.5"],
    ),
]
Credits = Annotated[int, msgspec.Meta(ge=0, le=10_000)]
