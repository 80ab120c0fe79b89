"""``yt8m-validate``: reads every record of a data set and reports what it holds.

Example::

  yt8m-validate --data='/data/yt8m/frame/train*.tfrecord'
  yt8m-validate --data='gs://bucket/video/*.tfrecord' --feature_level=video

Prints a human-readable report and, as its last line, one JSON object::

  {"files": 4, "records": 1000, "good_records": 1000, "frames": {"min": ...,
   "median": ..., "max": ...}, "bad_records": [{"file": ..., "index": ...,
   "id": ..., "reason": ...}], ...}

Exits with status 1 when any record (or file tail) is bad or an id occurs
more than once (an index needs unique ids), 2 on a usage error (e.g. a
pattern that matches nothing).
"""

import json

from yt8m_crossmodal.jobs.config import ValidateConfig
from yt8m_crossmodal.tools.runner import run_tool


def main(config: ValidateConfig):
  import yt8m_crossmodal as ym
  summary = ym.validate_records(config)
  print(f"{summary['files']} file(s), {summary['records']} record(s), "
        f"{summary['good_records']} good, {summary['bad_record_count']} bad")
  if summary["frames"]:
    f = summary["frames"]
    print(f"frames per video: min {f['min']}, median {f['median']}, max {f['max']}")
  for bad in summary["bad_records"]:
    print(f"BAD {bad['file']}[{bad['index']}] id={bad['id']!r}: {bad['reason']}")
  if summary["duplicate_ids"]:
    print(f"DUPLICATE ids: {summary['duplicate_ids']} id(s) occur more than once, e.g. "
          + ", ".join(f"{i!r} ({c} times)" for i, c in summary["duplicate_id_examples"]))
  print(json.dumps(summary))
  from yt8m_crossmodal.jobs.validate import exit_status
  return exit_status(summary)


def cli():
  run_tool(ValidateConfig, main)


if __name__ == "__main__":
  cli()
