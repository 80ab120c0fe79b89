"""``yt8m-pictures``: pictures for a long soundtrack (a radio broadcast): a storyboard.

Example::

  yt8m-pictures --index=index/frame --export_dir=saved_models/frame \\
      --audio_data=broadcast.tfrecord --output=storyboard.html
  yt8m-pictures ... --segment_seconds=30 --hop_seconds=15 --k=2 --format=table

Each soundtrack (a record of --audio_data, any length) is cut into segments
of --segment_seconds every --hop_seconds; for each segment the stretches of
video across the whole catalogue whose pictures fit that sound best are
found, and each segment gets --k of them from different videos. A video is
not suggested again within --repeat_gap_seconds, so that no video fills the
broadcast. How the search works: docs/pictures.md.

Fields of a suggested picture (JSON lines: one line per segment, after a
summary line per soundtrack):

  rank, score  1 = best; score = clip_weight * clip_score + (1 - clip_weight)
            * stretch_score, rounded to 4 decimals (3 in tables)
  start_second, end_second  the stretch of the video (its seconds) whose
            pictures fit the segment [start_second, end_second) of the sound
  stretch_score  mean cosine of the segment's seconds with the stretch's
  clip_score  the whole video's fit to the segment (clip embeddings), less
            --hub_weight x the video's hubness
%s

Summary fields: query_id, seconds (soundtrack length), segments,
segment_seconds, hop_seconds, repeat_gap_seconds, videos (distinct videos
suggested), most_uses (segments of the most suggested video).
"""

from yt8m_crossmodal.answers.describe import FIELDS_HELP
from yt8m_crossmodal.jobs.config import PicturesConfig
from yt8m_crossmodal.tools.runner import run_tool

__doc__ = __doc__ % FIELDS_HELP  # pylint: disable=redefined-builtin


def main(config: PicturesConfig):
  import yt8m_crossmodal as ym
  from yt8m_crossmodal.answers import formats, storyboard_view
  out = formats.Output(config.output)
  storyboard_view.write(ym.find_pictures(config),
                        formats.resolve(config.format, config.output), out)
  out.close()


def cli():
  run_tool(PicturesConfig, main)


if __name__ == "__main__":
  cli()
