"""CloudEvents (binary mode) headers of the derived streams' messages, CREDIT and ISSUER.

The ledger's messages carry CloudEvents attributes as headers (``services.common.messaging``);
the projector's and the issuer's carry the same ones, so that a consumer reads every stream
alike. Every attribute is a function of the message's outbox row, so a re-publish carries the
same headers as the first:

- ``ce-id``: the message id (``Nats-Msg-Id``, deterministic);
- ``ce-type``: ``org.credit-ledger.<credit|issuer>.<Type>.v<version>``, from the subject;
- ``ce-subject``: whom it is about, from the subject: the learner id on CREDIT, the learner
  hash on ISSUER (never a raw learner id);
- ``ce-time``: when the change that caused it was committed (the outbox row's time);
- ``ce-source``: the publishing service; ``ce-specversion`` 1.0; ``content-type``.
"""

from __future__ import annotations

import datetime as dt
import re

from proto.canonical import format_recorded_at
from proto.issuer import ISSUER_MESSAGE_VERSIONS

SPEC_VERSION = "1.0"
DERIVED_VERSION = 1
# Each derived message's subject: its address in AsyncAPI, with {parameters} as tokens.
DERIVED_SUBJECTS = {
    "QualificationEligible": "credit.v1.eligible.{qualification}.{learner}",
    "CreditBankUpdated": "credit.v1.bank.{learner}",
    "BadgeCredentialIssued": "issuer.v1.credential.issued.{qualification}.{learnerHash}",
    "BadgeCredentialRevoked": "issuer.v1.credential.revoked.{qualification}.{learnerHash}",
    "BadgeCredentialIssuedV2": "issuer.v2.credential.issued.{qualification}.{learnerHash}",
    "BadgeCredentialRevokedV2": "issuer.v2.credential.revoked.{qualification}.{learnerHash}",
}
# The parameter of each address that names whom the message is about.
SUBJECT_PARAMETERS = ("learner", "learnerHash")
HEADER_NAMES = (
    "ce-specversion",
    "ce-id",
    "ce-source",
    "ce-type",
    "ce-subject",
    "ce-time",
    "content-type",
)


def address_pattern(address: str) -> re.Pattern[str]:
    """An AsyncAPI channel address (``credit.v1.bank.{learner}``) as a regex matching its
    subjects, each ``{parameter}`` one subject token, captured under its name."""
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^.]+)", re.escape(address)))


_PATTERNS = {name: address_pattern(address) for name, address in DERIVED_SUBJECTS.items()}


def message_type(subject: str) -> tuple[str, str]:
    """(message type name, whom it is about) of a derived subject; ValueError otherwise."""
    for name, pattern in _PATTERNS.items():
        match = pattern.fullmatch(subject)
        if match is not None:
            about = next(match[p] for p in SUBJECT_PARAMETERS if p in match.groupdict())
            return name, about
    raise ValueError(f"{subject!r} is not a derived message subject")


def derived_ce_type(name: str) -> str:
    """``org.credit-ledger.credit.QualificationEligible.v1``, ``...issuer.BadgeCredentialIssued.v2``."""
    if name in ISSUER_MESSAGE_VERSIONS:
        family, version = ISSUER_MESSAGE_VERSIONS[name]
        return f"org.credit-ledger.issuer.{family}.v{version}"
    return f"org.credit-ledger.credit.{name}.v{DERIVED_VERSION}"


def derived_headers(
    subject: str, message_id: str, committed_at: dt.datetime, source: str
) -> dict[str, str]:
    """The CloudEvents headers of the message on ``subject`` (no ``Nats-Msg-Id``)."""
    name, about = message_type(subject)
    return {
        "ce-specversion": SPEC_VERSION,
        "ce-id": message_id,
        "ce-source": source,
        "ce-type": derived_ce_type(name),
        "ce-subject": about,
        "ce-time": format_recorded_at(committed_at),
        "content-type": "application/json",
    }
