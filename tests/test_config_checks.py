"""A config checks a field's own value where the field is declared (no TensorFlow)."""

import dataclasses
import inspect

import pytest

import yt8m_crossmodal as ym
from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal.jobs import config as jobs_config
from yt8m_crossmodal.retrieval import hubness, rerank, storyboard

# Each tool config with the fields it needs to get past "is required".
CONFIGS = {
    jobs_config.SearchConfig: dict(index="i", query_data="q", export_dir="e"),
    jobs_config.EvaluateConfig: dict(data="d"),
    jobs_config.PicturesConfig: dict(index="i", export_dir="e", audio_data="a"),
    jobs_config.SoundtracksConfig: dict(index="i", export_dir="e", visual_data="v"),
}
WEIGHTS = ("hub_weight", "clip_weight", "rerank_alpha", "min_confidence")


def _weights(klass):
  return [f for f in dataclasses.fields(klass) if f.name in WEIGHTS]


@pytest.mark.parametrize("klass", sorted(CONFIGS, key=lambda k: k.__name__))
def test_weights_are_checked_where_declared_with_one_message(klass):
  fields = _weights(klass)
  assert fields
  klass(**CONFIGS[klass]).validate()
  for f in fields:
    assert f.metadata["check"] is config_lib.UNIT_INTERVAL
    for bad in (1.5, -0.1, float("nan")):
      with pytest.raises(ym.UsageError, match=rf"^--{f.name} must be in \[0, 1\], got {bad}$"):
        klass(**CONFIGS[klass], **{f.name: bad}).validate()


def test_weight_defaults_are_written_once():
  defaults = {(k.__name__, f.name): f.default for k in CONFIGS for f in _weights(k)}
  for (klass, name), value in defaults.items():
    want = {"hub_weight": hubness.DEFAULT_WEIGHT, "rerank_alpha": rerank.DEFAULT_ALPHA,
            "clip_weight": storyboard.DEFAULT_CLIP_WEIGHT}.get(name)
    if want is not None:
      assert value == want, (klass, name)
  search = inspect.signature(ym.search_catalogue).parameters
  assert search["hub_weight"].default == hubness.DEFAULT_WEIGHT
  assert search["rerank_alpha"].default == rerank.DEFAULT_ALPHA



def test_sync_checks_declared_once_for_the_tool_and_the_api():
  import numpy as np
  config = dict(export_dir="e", data="d")
  cases = [("max_offset", 0, "must be >= 1, got 0"),
           ("min_confidence", float("nan"), "must be a number, got nan"),
           ("min_confidence", 2.0, r"is a probability in \[0, 1\] \(1 - p-value\), got 2.0"),
           ("min_overlap", -1, "must be >= 0, got -1")]
  timeline = np.ones((30, 4))
  for name, bad, said in cases:
    with pytest.raises(ym.UsageError, match=f"^--{name} {said}$"):
      jobs_config.SyncConfig(**config, **{name: bad}).validate()
    with pytest.raises(ym.UsageError, match=f"^{name} {said}$"):  # An argument: no "--".
      ym.synchronize(timeline, timeline, **{name: bad})
