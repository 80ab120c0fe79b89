"""The catalogue writer of ``yt8m-embed`` and its rules (in process and Beam alike)."""

from typing import Dict

from absl import logging

from yt8m_crossmodal import io_utils
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.retrieval.catalogue_writer import CatalogueWriter


def source_of(cfg, exp) -> dict:
  """What meta.json says was embedded: the records' patterns (local ones made
  absolute, so that their media manifests are found) and the label vocabulary's size."""
  patterns = [io_utils.abspath(p.strip()) for p in cfg.data.split(",") if p.strip()]
  return {"data": ",".join(patterns), "num_classes": int(exp.config.data.num_classes)}


def open_writer(cfg, exp, path: str) -> CatalogueWriter:
  """A :class:`CatalogueWriter` into ``path`` for ``cfg``'s format and ``exp``."""
  try:
    return CatalogueWriter(
        path, exp.embedding_size,
        max_frames=exp.max_frames if cfg.timelines else None,
        timeline_dtype=cfg.timeline_dtype, timeline_pool=cfg.timeline_pool,
        model_info=exp.describe(), modalities=cfg.modality_list,
        source=source_of(cfg, exp))
  except OSError as e:
    raise UsageError(f"cannot write next to --output {cfg.output!r}: {e}") from e


class UniqueIds:
  """An index needs unique ids: the rule for an id met again in ``--data``.

  Without ``--skip_bad_records`` the second record is an error naming both
  records; with it, the later copy is left out (logged, and counted in
  ``duplicate_ids_skipped``).
  """

  def __init__(self, skip: bool):
    self.skip = skip
    self.first: Dict[str, str] = {}
    self.skipped = 0

  def keep(self, video_id: str, where: str) -> bool:
    """True for the first record of ``video_id`` (at ``where``: file and record)."""
    if video_id not in self.first:
      self.first[video_id] = where
      return True
    message = (f"id {video_id!r} of {where} was already embedded from "
               f"{self.first[video_id]}: an index needs unique ids (yt8m-validate counts "
               "duplicates)")
    if not self.skip:
      raise UsageError(f"{message}; --skip_bad_records leaves out the later copies")
    logging.warning("left out: %s", message)
    self.skipped += 1
    return False
