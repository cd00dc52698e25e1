"""Auditing the log: chain verification, replay, and a transparency log over the event hashes.

Pure (no I/O): ``merkle`` (RFC 6962 hashing, proofs from a node store, the verifiers),
``tree_head`` (Ed25519-signed tree heads), ``chain`` (walking the hash chain),
``stored_rows`` / ``export_rows`` (canonical bytes of stored rows and of export lines),
``offline`` (what an auditor checks from a signed head and the JWKS alone), ``replay``'s
``replay`` (a learner at any point, with the projector's pure core).

With PostgreSQL: ``node_store`` (``merkle_nodes``, ``merkle_state``), ``tree_build`` (one
build step), ``tree_builder`` (the leader-elected background builder and periodic heads),
``head_store`` (``tree_heads``, signing keys), ``proofs`` (proofs from one query),
``verify`` (``audit verify``). Edges: ``routes`` (HTTP), ``runtime`` (the ledger
lifespan's part), ``signing`` (key files). An auditor reads the ledger with the platform's
``services.common.ledger_client``.
"""
