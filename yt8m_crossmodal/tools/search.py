"""``yt8m-search``: find the videos that fit a soundtrack, the soundtracks that fit
pictures, or both kinds on a topic, in an index of ``yt8m-embed``.

Example::

  yt8m-search --index=indexes/train --export_dir=saved_models/temporal \\
      --query_data='queries/*.tfrecord' --query_modality=audio --k=10
  # a 10-second audio clip (seconds 30..39 of each query), where does it fit?
  yt8m-search --index=indexes/train --export_dir=... --query_data=... \\
      --query_modality=audio --query_start=30 --query_seconds=10 --rerank=50
  # a topic search: sound and pictures ranked together, as an HTML page
  yt8m-search --index=... --export_dir=... --query_data=... \\
      --target_modality=both --output=topic.html

``--export_dir`` is required: a SavedModel is a program, so only an export
you name is loaded, never the one an index's meta.json names.

Answers (--format): a table on a terminal, one JSON object per query when
piped, an HTML page with --output=<file>.html. Fields of a result:

  rank, score  1 = best; score = cosine - w * hubness of the result (its mean
            cosine to its 50 nearest items of the query's modality,
            --hub_weight; with --target_modality=both also - w * the query's
            own hubness against that kind, so both kinds share one scale);
            rounded to 4 decimals in JSON, 3 in tables
  kind      pictures (a video's visual track) or sound (its audio track)
  best_start_second  (with --rerank, --localize or --query_seconds) the
            second of the result where the query's first second fits best;
            never negative: a result shorter than the query fits inside it,
            and query_start_second says at which second of the query
  timeline_score  mean cosine of the query's and the result's seconds along
            that fit; clip_score (--rerank) the score before re-ranking
%s

Line fields: query_id, query_modality, target_modality, query_seconds (the
seconds used), query_labels, query_link, results, warning (another export
embedded the index), error (a query with no second left). Details:
:mod:`yt8m_crossmodal.jobs.search`, docs/search.md.
"""

from yt8m_crossmodal.answers.describe import FIELDS_HELP
from yt8m_crossmodal.jobs.config import SearchConfig
from yt8m_crossmodal.tools.runner import run_tool

__doc__ = __doc__ % FIELDS_HELP  # pylint: disable=redefined-builtin


def main(config: SearchConfig):
  import yt8m_crossmodal as ym
  from yt8m_crossmodal.answers import formats, search_view
  out = formats.Output(config.output)
  search_view.write(ym.search(config), formats.resolve(config.format, config.output), out)
  out.close()


def cli():
  run_tool(SearchConfig, main)


if __name__ == "__main__":
  cli()
