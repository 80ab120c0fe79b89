"""The catalogue writer of ``yt8m-embed`` (in process and Beam alike)."""

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
