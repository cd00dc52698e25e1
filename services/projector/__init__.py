"""Projector: folds the log into each learner's credit bank (not built yet, see its issue)."""
