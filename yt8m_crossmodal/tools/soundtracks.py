"""``yt8m-soundtracks``: soundtracks for a picture track, and where in each song to start.

Example::

  yt8m-soundtracks --index=index/songs --export_dir=saved_models/frame \\
      --visual_data=my_clip.tfrecord --k=5
  yt8m-soundtracks ... --output=soundtracks.html

Each picture track (a record of --visual_data: a silent clip, or a video whose
sound is to be replaced) gets the --k soundtracks of the index that fit it
best, and for each where in the song to start so that it fits the pictures,
with a confidence. The index may be an ordinary one (yt8m-embed --timelines;
its videos' soundtracks) or one embedded with audio only.

Fields of a soundtrack:

  rank, score  1 = best; score = clip_weight * clip_score + (1 - clip_weight)
            * fit, rounded to 4 decimals (3 in tables)
  song_start_second, video_start_second  play the song from song_start_second
            together with the pictures from video_start_second (one of the two
            is 0: a song shorter than the pictures starts within them)
  seconds   how long both run together (the shorter of the two)
  fit       mean cosine of the song's and the pictures' seconds from there
  clip_score  the song's clip embedding against the pictures' (cosine less
            --hub_weight x the song's hubness)
  confidence  the probability that no other start of the song would fit the
            pictures as well by chance (1 - a p-value, yt8m-sync's estimator);
            high only when sound events line up with picture events
  confident  confidence >= --min_confidence
%s

Line fields (JSON): query_id, seconds (picture track length), query_labels,
query_link, soundtracks.
"""

from yt8m_crossmodal.answers.describe import FIELDS_HELP
from yt8m_crossmodal.jobs.config import SoundtracksConfig
from yt8m_crossmodal.tools.runner import run_tool

__doc__ = __doc__ % FIELDS_HELP  # pylint: disable=redefined-builtin


def main(config: SoundtracksConfig):
  import yt8m_crossmodal as ym
  from yt8m_crossmodal.answers import formats, soundtracks_view
  out = formats.Output(config.output)
  soundtracks_view.write(ym.find_soundtracks(config),
                         formats.resolve(config.format, config.output), out)
  out.close()


def cli():
  run_tool(SoundtracksConfig, main)


if __name__ == "__main__":
  cli()
