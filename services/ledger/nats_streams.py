"""Declares the JetStream stream the relay publishes to, with every setting spelled out."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from proto.subjects import LEDGER_STREAM, LEDGER_SUBJECTS

# Re-publishes after a relay restart are dropped by Nats-Msg-Id within this window.
DUPLICATE_WINDOW_S = 120.0
MAX_MSG_BYTES = 1024 * 1024


def ledger_stream_config(replicas: int) -> StreamConfig:
    return StreamConfig(
        name=LEDGER_STREAM,
        description="Every event of the credit ledger, in log position order.",
        subjects=[LEDGER_SUBJECTS],
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


async def declare_ledger_stream(js: JetStreamContext, replicas: int) -> None:
    """Create the stream, or bring an existing one to this configuration."""
    config = ledger_stream_config(replicas)
    try:
        await js.stream_info(LEDGER_STREAM)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)
