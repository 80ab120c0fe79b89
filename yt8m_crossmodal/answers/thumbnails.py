"""The picture at a second of a media file, for the HTML pages.

The path comes from a media manifest, which may have come from someone else:
it is only read as a local regular file, opened here and handed to PyAV as
an open file, so a URL (``http://...``), an FFmpeg protocol (``concat:``,
``subfile,...``), a device or a FIFO named by a manifest is never opened.

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
import os
import stat
from typing import BinaryIO, Optional

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
  media = open_media(path)
  if media is None:
    return None
  try:
    with media, av.open(media, mode="r") as container:
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


def open_media(path: str) -> Optional[BinaryIO]:
  """``path`` opened for reading if it is an absolute path to a local regular
  file (else None, logged): never a URL, protocol, device or FIFO."""
  if not isinstance(path, str) or not os.path.isabs(path) or "\0" in path:
    logging.info("no picture of %r: not an absolute local file path", path)
    return None
  try:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
  except OSError as e:
    logging.info("no picture of %s: %s", path, e.strerror or e)
    return None
  if not stat.S_ISREG(os.fstat(fd).st_mode):
    os.close(fd)
    logging.info("no picture of %s: not a regular file", path)
    return None
  return os.fdopen(fd, "rb")


def data_uri(jpeg: bytes) -> str:
  """``jpeg`` as a ``data:image/jpeg;base64,...`` URI (the page stays one file)."""
  return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
