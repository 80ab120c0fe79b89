"""The published weights and PCA files: fetched on first use, checked, cached.

Four files (:data:`DOWNLOADS`), each needed only for its modality:

========================  ===============  ========================================================
file                      size             source
========================  ===============  ========================================================
inception-2015-12-05.tgz  about 85-89 MB   download.tensorflow.org (holds classify_image_graph_def.pb)
yt8m_pca.tgz              about 15-25 MB   data.yt8m.org (mean.npy, eigenvals.npy, eigenvecs.npy)
vggish_model.ckpt         about 277 MB     storage.googleapis.com/audioset
vggish_pca_params.npz     about 0.1 MB     storage.googleapis.com/audioset
========================  ===============  ========================================================

Where they are read from:

- ``weights_dir`` (``--weights_dir``, for machines without internet): the
  files as downloaded; nothing is downloaded. For the two archives, the
  files they hold, as the YouTube-8M extractor leaves them in ``~/yt8m``
  (``classify_image_graph_def.pb``, ``mean.npy`` ...), are accepted too.
- otherwise the cache folder (``--cache_dir``, else ``$YT8M_WEIGHTS_CACHE``,
  else ``$XDG_CACHE_HOME/yt8m_crossmodal/weights``, else
  ``~/.cache/yt8m_crossmodal/weights``); a missing file is downloaded into
  it, written aside and renamed into place once complete and checked.

**Digests.** No publisher lists SHA-256 digests for these files. One was
found pinned publicly: ``vggish_model.ckpt``, in the D3M metadata of the
distil-primitives project (``file_digest`` of its mirror of the same file);
it is checked. For the other three the first copy seen is trusted: its
digest is recorded in ``SHA256SUMS`` in the cache folder when it is
downloaded (or first found there) and every later use is checked against
it. A ``SHA256SUMS`` you write (lines ``<sha256>  <file name>``, as
``sha256sum`` prints them) in the cache or in ``weights_dir`` pins a file
yourself and takes precedence over the built-in pin. Digests are checked
before a file is used; a mismatch is an error that names both digests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tarfile
import urllib.error
import urllib.request
import uuid
from typing import Callable, Dict, Optional, Tuple

from absl import logging

from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.progress import Progress

ENV_CACHE = "YT8M_WEIGHTS_CACHE"
SUMS_FILE = "SHA256SUMS"
_CHUNK = 1 << 20


class WeightsError(UsageError):
  """A weight file that is absent, unreachable or not the expected one (one line)."""


@dataclasses.dataclass(frozen=True)
class Download:
  """One published file.

  Attributes:
    name: its file name.
    url: where it is published.
    size: its size, in words.
    sha256: a pinned digest, or None (trusted on first use).
    pinned_by: where the pin comes from.
    members: files read from inside it (a .tgz); empty: the file itself.
  """

  name: str
  url: str
  size: str
  sha256: Optional[str] = None
  pinned_by: str = ""
  members: Tuple[str, ...] = ()


INCEPTION = Download(
    "inception-2015-12-05.tgz",
    "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz",
    "about 85-89 MB", members=("classify_image_graph_def.pb",))
YT8M_PCA = Download("yt8m_pca.tgz", "http://data.yt8m.org/yt8m_pca.tgz", "about 15-25 MB",
                    members=("mean.npy", "eigenvals.npy", "eigenvecs.npy"))
VGGISH = Download(
    "vggish_model.ckpt", "https://storage.googleapis.com/audioset/vggish_model.ckpt",
    "about 277 MB",
    sha256="0962b1914e3e053922d957c45bc84a78c985765641dc6bceeeb3a7d8dfecfdf6",
    pinned_by="the D3M metadata of uncharted-distil/distil-primitives (its mirror of the file)")
VGGISH_PCA = Download("vggish_pca_params.npz",
                      "https://storage.googleapis.com/audioset/vggish_pca_params.npz",
                      "about 0.1 MB")
DOWNLOADS = {d.name: d for d in (INCEPTION, YT8M_PCA, VGGISH, VGGISH_PCA)}
FOR_MODALITY = {"visual": (INCEPTION, YT8M_PCA), "audio": (VGGISH, VGGISH_PCA)}


def default_cache_dir() -> str:
  """``$YT8M_WEIGHTS_CACHE``, else the XDG cache folder's ``yt8m_crossmodal/weights``."""
  if os.environ.get(ENV_CACHE):
    return os.environ[ENV_CACHE]
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "yt8m_crossmodal", "weights")


def sha256_of(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(_CHUNK), b""):
      h.update(block)
  return h.hexdigest()


def read_sums(folder: str) -> Dict[str, str]:
  """``{file name: sha256}`` of ``folder/SHA256SUMS`` (empty when absent)."""
  path = os.path.join(folder, SUMS_FILE)
  sums = {}
  if os.path.isfile(path):
    with open(path, encoding="utf-8", errors="replace") as f:
      for line in f:
        parts = line.strip().split()
        if len(parts) == 2 and len(parts[0]) == 64:
          sums[parts[1].lstrip("*")] = parts[0].lower()
  return sums


def _record_sum(folder: str, name: str, digest: str) -> None:
  sums = read_sums(folder)
  sums[name] = digest
  text = "".join(f"{d}  {n}\n" for n, d in sorted(sums.items()))
  path = os.path.join(folder, SUMS_FILE)
  tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(tmp, path)


def _fetch(url: str, timeout: float = 60.0):
  return urllib.request.urlopen(url, timeout=timeout)  # pylint: disable=consider-using-with


class WeightStore:
  """Finds, downloads and checks the published files (see the module docstring).

  Args:
    weights_dir: a folder holding the files (no download); "" for the cache.
    cache_dir: the cache folder ("" for :func:`default_cache_dir`).
    fetch: ``url -> file-like response`` (tests replace it).

  Attributes:
    digests: ``{file name: sha256}`` of every file used (for the manifest).
  """

  def __init__(self, weights_dir: str = "", cache_dir: str = "",
               fetch: Callable[[str], object] = _fetch):
    self.weights_dir = weights_dir
    self.cache_dir = cache_dir or default_cache_dir()
    self._fetch = fetch
    self.digests: Dict[str, str] = {}
    self._checked: Dict[str, Tuple[float, int]] = {}

  @property
  def folder(self) -> str:
    return self.weights_dir or self.cache_dir

  def _where_to_put(self, d: Download) -> str:
    return (f"download {d.name} ({d.size}) from {d.url} and put it in "
            f"{os.path.abspath(self.folder)}")

  def file(self, d: Download) -> str:
    """The local path of ``d``, downloaded if needed, its digest checked."""
    path = os.path.join(self.folder, d.name)
    if not os.path.isfile(path):
      if self.weights_dir:
        raise WeightsError(f"{d.name} is not in --weights_dir {self.weights_dir!r}: "
                           f"{self._where_to_put(d)}")
      self._download(d, path)
    self._check(d, path)
    return path

  def member(self, d: Download, member: str) -> bytes:
    """The bytes of ``member`` of the archive ``d`` (or of that file, extracted,
    in ``weights_dir``)."""
    extracted = os.path.join(self.weights_dir, member) if self.weights_dir else ""
    if extracted and not os.path.isfile(os.path.join(self.weights_dir, d.name)) and all(
        os.path.isfile(os.path.join(self.weights_dir, m)) for m in d.members):
      self._check_extracted(member, extracted)
      with open(extracted, "rb") as f:
        return f.read()
    path = self.file(d)
    try:
      with tarfile.open(path, "r:*") as archive:
        for info in archive.getmembers():
          if info.isfile() and os.path.basename(info.name) == member:
            return archive.extractfile(info).read()
    except (tarfile.TarError, OSError, EOFError) as e:
      raise WeightsError(f"{path}: not a readable .tgz archive ({e}): delete it and "
                         f"{self._where_to_put(d)}") from None
    raise WeightsError(f"{path}: holds no {member}: not the published {d.name}")

  def _check_extracted(self, member: str, path: str) -> None:
    digest = sha256_of(path)
    self.digests[member] = digest
    pinned = read_sums(self.weights_dir).get(member)
    if pinned and pinned != digest:
      raise WeightsError(f"{path}: SHA-256 {digest} differs from the one pinned in "
                         f"{os.path.join(self.weights_dir, SUMS_FILE)} ({pinned})")
    if not pinned:
      logging.info("%s: extracted copy, SHA-256 %s (not checked: pin it in %s)", path,
                   digest, SUMS_FILE)

  def _check(self, d: Download, path: str) -> None:
    stat = os.stat(path)
    key = (stat.st_mtime, stat.st_size)
    if self._checked.get(path) == key:
      return
    digest = sha256_of(path)
    folder = os.path.dirname(path)
    own = read_sums(folder).get(d.name)
    want, source = (own, os.path.join(folder, SUMS_FILE)) if own else (d.sha256, d.pinned_by)
    if want and digest != want:
      raise WeightsError(
          f"{path}: SHA-256 {digest} differs from the pinned {want} ({source}): delete it to "
          f"download it again; if you trust this copy, put its digest in "
          f"{os.path.join(folder, SUMS_FILE)}")
    if not want:
      if self.weights_dir:
        logging.info("%s: SHA-256 %s (no pin; write it in %s to pin it)", path, digest,
                     os.path.join(folder, SUMS_FILE))
      else:
        _record_sum(folder, d.name, digest)
        logging.info("%s: SHA-256 %s recorded in %s (trusted on first use)", path, digest,
                     os.path.join(folder, SUMS_FILE))
    self.digests[d.name] = digest
    self._checked[path] = key

  def _download(self, d: Download, path: str) -> None:
    folder = os.path.dirname(path)
    try:
      os.makedirs(folder, exist_ok=True)
    except OSError as e:
      raise WeightsError(f"cannot create the weights cache {folder!r} ({e}): pass "
                         "--cache_dir or --weights_dir") from None
    tmp = os.path.join(folder, f".{d.name}.part-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    logging.info("downloading %s (%s) from %s into %s", d.name, d.size, d.url, folder)
    h = hashlib.sha256()
    try:
      with self._fetch(d.url) as response, open(tmp, "wb") as out:
        total = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        bar = Progress(f"downloading {d.name} (MB)", int(total) // (1 << 20) if total else None)
        done = 0
        try:
          for block in iter(lambda: response.read(_CHUNK), b""):
            out.write(block)
            h.update(block)
            done += len(block)
            bar.update(done // (1 << 20))
        finally:
          bar.close()
        if total and done != int(total):
          raise OSError(f"got {done} of {total} bytes")
      want = read_sums(folder).get(d.name) or d.sha256
      if want and h.hexdigest() != want:
        raise WeightsError(f"the download of {d.name} from {d.url} has SHA-256 "
                           f"{h.hexdigest()}, not the pinned {want}: not used")
      os.replace(tmp, path)
    except WeightsError:
      _remove(tmp)
      raise
    except (urllib.error.URLError, OSError, ValueError) as e:
      _remove(tmp)
      reason = getattr(e, "reason", None) or e
      raise WeightsError(f"cannot download {d.name} ({d.size}) from {d.url} ({reason}): "
                         f"download it yourself and put it in {os.path.abspath(folder)}, "
                         "or pass --weights_dir=<a folder holding it>") from None
    except BaseException:
      _remove(tmp)
      raise


def _remove(path: str) -> None:
  try:
    os.remove(path)
  except OSError:
    pass


def bytes_of(store: WeightStore, d: Download) -> bytes:
  """The whole file ``d`` (small ones: the PCA parameters)."""
  with open(store.file(d), "rb") as f:
    return f.read()


def archive_members(store: WeightStore, d: Download) -> Dict[str, bytes]:
  """``{member: bytes}`` of every member of the archive ``d``."""
  return {m: store.member(d, m) for m in d.members}


def describe() -> str:
  """What is downloaded, from where (for messages and docs)."""
  buf = io.StringIO()
  for d in DOWNLOADS.values():
    buf.write(f"{d.name} ({d.size}) from {d.url}\n")
  return buf.getvalue()
