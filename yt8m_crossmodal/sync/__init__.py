"""Synchronization baselines and offset estimation (numpy only, no TF)."""
