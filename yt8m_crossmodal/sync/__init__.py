"""Synchronization: offset estimation with a confidence (:mod:`.estimator`),
the per-second linear CCA baseline (:mod:`.cca`) and ``yt8m-sync``'s library
(:mod:`.synchronizer`). Numpy only, but for the synchronizer's export calls."""
