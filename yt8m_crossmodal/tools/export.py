"""``yt8m-export``: writes a trained model as a TF Serving SavedModel version.

Example::

  yt8m-export --model_dir=runs/temporal --export_dir=saved_models/temporal
  yt8m-export --model_dir=runs/temporal --export_dir=saved_models/temporal \\
      --version=7 --search_catalogue=indexes/catalogue --search_k=20

``--model_dir`` is a ``yt8m-train`` folder (``config.json``, ``model.keras``).
The signatures are the README's "Serving signatures" table; how versions are
written is in :mod:`yt8m_crossmodal.serving.exporter`. ``--search_catalogue``
(an index folder of ``yt8m-embed``) bakes that catalogue into
``search_by_audio`` / ``search_by_visual`` (exact top-``--search_k``).

Serving (the model folder, not a version folder)::

  docker run --rm -p 8500:8500 -p 8501:8501 \\
      -v "$PWD/saved_models/temporal:/models/yt8m" \\
      tensorflow/serving --model_name=yt8m --model_base_path=/models/yt8m

Prints a summary and, as its last line, one JSON object (``export.json`` plus
``path``).
"""

import json

from yt8m_crossmodal.jobs.config import ExportConfig
from yt8m_crossmodal.tools.runner import run_tool


def main(config: ExportConfig) -> None:
  import yt8m_crossmodal as ym
  from yt8m_crossmodal.serving.exporter import hide_gpus
  hide_gpus()
  info = ym.export(config.model_dir, config.export_dir, config.version,
                   config.search_catalogue, config.search_k)
  print(f"exported {info['model']} model ({info['feature_level']} level, "
        f"E={info['embedding_size']}) as version {info['version']}: {info['path']}")
  for name, sig in sorted(info["signatures"].items()):
    ins = ", ".join(f"{k} {v['dtype']}{v['shape']}" for k, v in sig["inputs"].items())
    outs = ", ".join(f"{k} {v['dtype']}{v['shape']}" for k, v in sig["outputs"].items())
    print(f"  {name}: ({ins}) -> ({outs})")
  print(json.dumps(info, sort_keys=True))


def cli():
  run_tool(ExportConfig, main)


if __name__ == "__main__":
  cli()
