"""Pieces the services share at their edges (not domain logic: that is ``domain``)."""
