"""The optimizer: AdamW with a warm-up and cosine learning-rate schedule."""

from __future__ import annotations

import keras

from yt8m_crossmodal import config as config_lib


def learning_rate_schedule(cfg: config_lib.TrainConfig, total_steps: int):
  if cfg.lr_schedule == "constant":
    return cfg.learning_rate
  warmup = min(cfg.warmup_steps, max(0, total_steps - 1))
  return keras.optimizers.schedules.CosineDecay(
      initial_learning_rate=0.0 if warmup else cfg.learning_rate,
      decay_steps=max(1, total_steps - warmup),
      alpha=0.01,
      warmup_target=cfg.learning_rate if warmup else None,
      warmup_steps=warmup)


def make_optimizer(cfg: config_lib.TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
  return keras.optimizers.AdamW(
      learning_rate=learning_rate_schedule(cfg, total_steps),
      weight_decay=cfg.weight_decay,
      global_clipnorm=cfg.clipnorm or None)
