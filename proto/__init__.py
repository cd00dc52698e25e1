"""The contracts the services share: every event and message as a msgspec Struct.

``proto/schemas/*.json`` and ``proto/asyncapi.json`` are generated from these Structs by
``credit-ledger contracts generate``; a test fails when the committed files are stale.
"""
