"""The projector benchmark's scenarios; ``python -m bench.projector_bench`` runs them."""
