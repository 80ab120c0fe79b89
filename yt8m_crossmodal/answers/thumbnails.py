"""The picture at a second of a media file, for the HTML pages.

Decoded with PyAV (a dependency of the package); without it, or
when a file cannot be decoded, :func:`picture_at` returns None and the page
shows the file in a ``<video>`` element at that second instead (the browser
decodes it when the page is opened).
"""

from __future__ import annotations

import base64
import functools
import io
import logging
from typing import Optional

WIDTH = 192


def available() -> bool:
  """True when PyAV can be imported."""
  try:
    import av  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    return False
  return True


@functools.lru_cache(maxsize=512)
def picture_at(path: str, second: float, width: int = WIDTH) -> Optional[bytes]:
  """A JPEG of the frame shown at ``second`` of video file ``path``, ``width`` wide.

  Returns:
    The JPEG bytes, or None (no PyAV, no video stream, unreadable file, or
    a second past the end: the last frame before it is used when there is one).
  """
  try:
    import av  # pylint: disable=import-outside-toplevel
  except ImportError:
    return None
  try:
    with av.open(path) as container:
      if not container.streams.video:
        return None
      stream = container.streams.video[0]
      if stream.time_base:
        container.seek(int(max(0.0, second - 1.0) / stream.time_base), stream=stream,
                       backward=True, any_frame=False)
      picked = None
      for frame in container.decode(stream):
        if frame.time is not None and frame.time > second + 1e-3 and picked is not None:
          break
        picked = frame
      if picked is None:
        return None
      image = picked.to_image()
  except Exception as e:  # pylint: disable=broad-except  # Any decode failure: no picture.
    logging.info("no picture of %s at %ss: %s", path, second, e)
    return None
  height = max(1, round(image.height * width / max(1, image.width)))
  image = image.convert("RGB").resize((width, height))
  out = io.BytesIO()
  image.save(out, format="JPEG", quality=80)
  return out.getvalue()


def data_uri(jpeg: bytes) -> str:
  """``jpeg`` as a ``data:image/jpeg;base64,...`` URI (the page stays one file)."""
  return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
