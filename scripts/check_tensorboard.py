"""Starts TensorBoard on a log folder, checks its plugins, screenshots its pages.

  .venv/bin/python scripts/check_tensorboard.py demo_output/model/tensorboard [--out=DIR] \
      [--filter='retrieval|clip_']

Fails (exit 1) when the scalars plugin has no tags in a run, or the projector
plugin has no run: what a user would see as an empty page. Then, when Debian's
``chromium`` is installed (``apt-get install chromium``), writes headless
screenshots of the scalars and projector pages into ``--out`` to look at
(with ``--filter``, also ``scalars_filter.png``: the scalars dashboard showing
the tags that match the regex, with their full names).
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _get(url):
  with urllib.request.urlopen(url, timeout=10) as r:
    return json.loads(r.read())


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("logdir")
  parser.add_argument("--out", default="tensorboard_check")
  parser.add_argument("--timeout", type=float, default=120)
  parser.add_argument("--filter", default="", help="tag regex of an extra screenshot")
  args = parser.parse_args()
  port = _free_port()
  base = f"http://127.0.0.1:{port}"
  server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", f"--logdir={args.logdir}",
                             f"--port={port}", "--host=127.0.0.1", "--load_fast=false"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + args.timeout
    tags = runs = None
    while time.time() < deadline:
      try:
        tags = _get(base + "/data/plugin/scalars/tags")
        runs = _get(base + "/data/plugin/projector/runs")
        if tags and runs:
          break
      except OSError:
        pass
      time.sleep(2)
    problems = []
    if not tags or not all(tags.values()):
      problems.append(f"scalars plugin empty: {tags}")
    if not runs:
      problems.append("projector plugin has no run (no projector_config.pbtxt next to "
                      "event files)")
    for run, run_tags in sorted((tags or {}).items()):
      groups = sorted({t.split("/")[0] for t in run_tags})
      print(f"scalars, run {run}: {len(run_tags)} tags in groups {groups}")
    print(f"projector runs: {runs}")
    chromium = shutil.which("chromium")
    if chromium:
      os.makedirs(args.out, exist_ok=True)
      pages = [("scalars", "#timeseries", 15000), ("projector", "#projector", 25000)]
      if args.filter:
        pages.append(("scalars_filter", f"#scalars&tagFilter={urllib.parse.quote(args.filter)}",
                      30000))
      for name, page, wait in pages:
        path = os.path.abspath(os.path.join(args.out, f"{name}.png"))
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tempfile.mkdtemp()}", "--window-size=1400,1000",
                        f"--virtual-time-budget={wait}", f"--screenshot={path}", base + "/" + page],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
        print(f"screenshot: {path}" if os.path.exists(path) else f"no screenshot of {name}")
    else:
      print("chromium not installed: no screenshots (apt-get install chromium)")
    for p in problems:
      print(f"FAIL: {p}")
    return 1 if problems else 0
  finally:
    server.kill()
    server.wait()


if __name__ == "__main__":
  sys.exit(main())
