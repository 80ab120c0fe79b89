"""Synchronization, numpy only: the offset with a null-calibrated confidence
(:mod:`.estimator`), the drift model (:mod:`.drift`), one video's answer
(:mod:`.answer`); benchmark-only scorers and figures of merit (:mod:`.statistics`)."""
