"""yt8m-embed --runner without apache-beam installed: a one-line usage error."""

import os
import sys

import pytest

from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs import embed as embed_job


def test_a_beam_runner_without_apache_beam_is_a_usage_error(frame_export, frame_data_dir,
                                                             tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "apache_beam", None)  # Import fails as if missing.
  monkeypatch.delitem(sys.modules, "yt8m_crossmodal.jobs.embed_beam", raising=False)
  from yt8m_crossmodal import jobs  # A loaded module stays an attribute of its package.
  monkeypatch.delattr(jobs, "embed_beam", raising=False)
  with pytest.raises(UsageError, match=r"needs apache-beam: pip install 'yt8m-crossmodal\[beam\]'"):
    embed_job.embed_corpus(embed_job.EmbedConfig(
        export_dir=frame_export.export_dir, data=f"{frame_data_dir}/*.tfrecord",
        output=str(tmp_path / "x"), runner="DirectRunner"))
  assert os.listdir(tmp_path) == []
