"""Declares the JetStream stream the relay publishes to, with every setting spelled out."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from proto.subjects import LEDGER_STREAM, LEDGER_SUBJECTS

# Re-publishes after a relay restart are dropped by Nats-Msg-Id within this window.
DUPLICATE_WINDOW_S = 120.0
MAX_MSG_BYTES = 1024 * 1024


def stream_config(name: str, subjects: list[str], description: str, replicas: int) -> StreamConfig:
    """Every stream of the system: file storage, kept for ever, de-duplicated by message id."""
    return StreamConfig(
        name=name,
        description=description,
        subjects=subjects,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_msgs=-1,
        max_bytes=-1,
        max_age=0,
        max_msg_size=MAX_MSG_BYTES,
        max_msgs_per_subject=-1,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
        allow_direct=True,
        deny_delete=True,
        deny_purge=False,
    )


def ledger_stream_config(replicas: int) -> StreamConfig:
    return stream_config(
        LEDGER_STREAM,
        [LEDGER_SUBJECTS],
        "Every event of the credit ledger, in log position order.",
        replicas,
    )


async def declare_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to this configuration."""
    if config.name is None:
        raise ValueError("a stream needs a name")
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


async def declare_ledger_stream(js: JetStreamContext, replicas: int) -> None:
    await declare_stream(js, ledger_stream_config(replicas))
