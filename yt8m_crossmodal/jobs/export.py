"""``yt8m-export``'s job: a yt8m-train folder exported in the TF Serving layout."""

from __future__ import annotations

from typing import Any, Dict

from yt8m_crossmodal import io_utils
from yt8m_crossmodal.jobs.config import ExportConfig
from yt8m_crossmodal.serving.exporter import export, load_model_dir, portable_encoders


def export_model_dir(cfg: ExportConfig) -> Dict[str, Any]:
  """Exports ``cfg.model_dir`` as configured; returns :func:`export`'s dict."""
  cfg.validate()  # Where its checks are declared, as the tools run them.
  config, model = load_model_dir(cfg.model_dir)
  audio, visual, lstms = portable_encoders(config, model)
  return export(config, audio, visual, cfg.export_dir, version=cfg.version,
                search_catalogue=cfg.search_catalogue, search_k=cfg.search_k,
                source={"model_dir": io_utils.abspath(cfg.model_dir)},
                lstm_layers_without_cudnn=lstms)
