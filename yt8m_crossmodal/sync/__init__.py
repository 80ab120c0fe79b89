"""Synchronization: offset estimation with a null-calibrated confidence
(:mod:`.estimator`). Numpy only."""
