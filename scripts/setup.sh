#!/usr/bin/env bash
# Creates .venv (if missing) and installs the package with its dev extra.
# Quiet and quick when everything is already installed. Sourced or run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PYTHON" --version)" >&2
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
# Reinstall only when setup.cfg changed since the last install.
stamp=.venv/.yt8m_crossmodal_installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || ! .venv/bin/python -c "import yt8m_crossmodal" 2>/dev/null; then
  echo "setup: installing yt8m-crossmodal[dev] into .venv (first run takes a few minutes)" >&2
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi
