"""Transparency log over the event hashes: an RFC 6962 Merkle tree and signed tree heads.

``merkle`` is pure (no I/O): hashing, proofs computed from a node store, and the offline
verification an auditor runs. ``tree_head`` signs and verifies (tree size, root) pairs.
"""
