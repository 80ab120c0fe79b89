"""Reading every record of a data set and reporting what it holds (``yt8m-validate``)."""


import collections
from typing import Optional

import numpy as np
import tensorflow as tf

from yt8m_crossmodal.data import decode
from yt8m_crossmodal.data import pipeline
from yt8m_crossmodal.jobs.config import ValidateConfig
from yt8m_crossmodal.errors import UsageError

# Records read to tell a --feature_level that does not fit the data at once.
LEVEL_SAMPLE = 64


def other_level(pattern: str, level: str, num_classes: int) -> Optional[str]:
  """The other feature level when the first records of ``pattern`` all are of it.

  Reads up to :data:`LEVEL_SAMPLE` records (in file order) as ``level``;
  None when one of them is not of the other level, or a file cannot be read
  (the full read names it).
  """
  files = pipeline.list_files(pattern)
  try:
    raw = [r.numpy() for r in tf.data.TFRecordDataset(files).take(LEVEL_SAMPLE)]
  except tf.errors.OpError:
    return None
  if not raw:
    return None
  _, reasons = decode.decode_records(tf.constant(raw), level, num_classes, 1 << 20)
  if all(r.decode(errors="replace") == decode.OTHER_LEVEL_REASONS[level]
         for r in reasons.numpy()):
    return pipeline.VIDEO if level == pipeline.FRAME else pipeline.FRAME
  return None


def validate(cfg: ValidateConfig) -> dict:
  """Reads every record of ``cfg.data``; returns the summary dict.

  Raises:
    UsageError: ``--feature_level`` names a level that the first records
      are not of (said once, not for every record).
  """
  cfg.validate()
  files = pipeline.list_files(cfg.data)
  level = cfg.feature_level
  if level == "auto":  # A first record that reads as neither: all is read as frame level.
    level = pipeline.first_record_level(cfg.data, 1 << 20) or pipeline.FRAME
  else:
    other = other_level(cfg.data, level, cfg.num_classes)
    if other:
      raise UsageError(
          f"--data {cfg.data!r} holds {other}-level records, not {level}-level ones as "
          f"--feature_level={level} says (its first records, up to {LEVEL_SAMPLE}, all are "
          f"{other}-level): pass --feature_level={other}, or auto")
  log = pipeline.BadRecordLog(max_logged=None)
  ds = pipeline.make_dataset(
      cfg.data, feature_level=level, batch_size=cfg.batch_size,
      num_classes=cfg.num_classes, max_frames=1 << 20, skip_bad_records=True,
      bad_record_log=log, include_segments=level == "frame",
      with_provenance=True, seed=0, modalities=cfg.modality_list())
  frames, per_file = [], collections.Counter()
  label_counts = []
  segments = 0
  ids = collections.Counter()
  for batch in ds:
    frames.extend(batch["num_frames"].numpy().tolist())
    label_counts.extend(batch["labels"].numpy().sum(axis=1).astype(int).tolist())
    per_file.update(f.decode() for f in batch["file"].numpy())
    ids.update(batch["id"].numpy().tolist())
    if "num_segments" in batch:
      segments += int(batch["num_segments"].numpy().sum())
  bad = [r.as_dict() for r in log.records]
  good = len(frames)
  summary = {
      "files": len(files),
      "records": good + len(bad),
      "good_records": good,
      "feature_level": level,
      "modalities": list(cfg.modality_list()),
      "frames": ({"min": int(np.min(frames)), "median": float(np.median(frames)),
                  "max": int(np.max(frames)), "total": int(np.sum(frames))}
                 if frames and level == "frame" else None),
      "labels_per_video": ({"min": int(np.min(label_counts)),
                            "mean": round(float(np.mean(label_counts)), 3),
                            "max": int(np.max(label_counts))} if label_counts else None),
      "rated_segments": segments,
      "duplicate_ids": sum(1 for c in ids.values() if c > 1),
      "duplicate_id_examples": [
          [i.decode(errors="replace"), c] for i, c in ids.most_common(5) if c > 1],
      "records_per_file": {f: per_file.get(f, 0) for f in files},
      "bad_record_count": len(bad),
      "bad_records": bad[:cfg.max_bad_listed],
  }
  return summary


def exit_status(summary: dict) -> int:
  """``yt8m-validate``'s exit status: 1 when a record is bad or an id occurs
  more than once (an index needs unique ids), else 0."""
  return 1 if summary["bad_record_count"] or summary["duplicate_ids"] else 0
