"""A consumer's view of a message, built only from proto/asyncapi.json and the JSON Schemas.

``check_message`` finds the AsyncAPI channel whose address the message's subject matches,
validates the message's headers against that channel's message header schema and its
payload against the message's JSON Schema, as an outside consumer that knows nothing but
the committed contract would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from nats.aio.msg import Msg

from proto.cloudevents import address_pattern

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI = json.loads((ROOT / "proto" / "asyncapi.json").read_bytes())


def _resolve(ref: str) -> Any:
    node: Any = ASYNCAPI
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _inline(node: Any) -> Any:
    """``node`` with every local $ref replaced by what it points to."""
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            return _inline(_resolve(node["$ref"]))
        return {key: _inline(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value) for value in node]
    return node


def channel_of(subject: str) -> str:
    """The name of the one AsyncAPI channel whose address ``subject`` matches."""
    found = [
        name
        for name, channel in ASYNCAPI["channels"].items()
        if address_pattern(channel["address"]).fullmatch(subject)
    ]
    assert len(found) == 1, (subject, found)
    name: str = found[0]
    return name


def check_message(message: Msg) -> dict[str, str]:
    """Validates ``message`` against the contract; returns its headers."""
    name = channel_of(message.subject)
    (described,) = ASYNCAPI["channels"][name]["messages"].values()
    contract = _inline(described)
    headers = dict(message.headers or {})
    Draft202012Validator(contract["headers"]).validate(headers)
    payload = contract["payload"]
    if "$schema" in payload or "type" in payload or "properties" in payload:
        Draft202012Validator(payload).validate(json.loads(message.data))
    return headers
