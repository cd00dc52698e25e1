"""Projector: folds the log into each learner's credit bank, progress and thresholds."""
