#!/usr/bin/env bash
# Creates .venv (if missing) and installs the package into it, editable.
#
#   bash scripts/setup.sh          the base package: what the tools and scripts/demo.sh need
#   bash scripts/setup.sh dev      + pytest, JAX, PyTorch (CPU), Apache Beam, tensorflow-serving-api
#   bash scripts/setup.sh jax      any extra of setup.cfg (jax, torch, beam, dev), or several: "jax,beam"
#
# .venv/.yt8m_crossmodal_installed records the extras installed. Nothing is installed again unless
# an extra asked for is missing, setup.cfg changed since the last install, or the package does not
# import. A reinstall keeps the extras installed before, so the demo after the tests keeps `dev`.
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

stamp=.venv/.yt8m_crossmodal_installed
wanted="${1:-}"
installed=""
[ -f "$stamp" ] && installed="$(grep -v '^base$' "$stamp" | tr '\n' ',' || true)"
# Sorted, unique, comma-separated: the extras already installed plus the ones asked for.
all="$(printf '%s,%s' "$installed" "$wanted" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)"

needs_install=0
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then needs_install=1; fi
for extra in ${wanted//,/ }; do
  if ! grep -qx "$extra" "$stamp" 2>/dev/null; then needs_install=1; fi
done
if ! .venv/bin/python -c "import yt8m_crossmodal" 2>/dev/null; then needs_install=1; fi

if [ "$needs_install" = 1 ]; then
  target="."
  if [ -n "$all" ]; then target=".[$all]"; fi
  echo "setup: installing yt8m-crossmodal${all:+[$all]} into .venv (the first run takes a few minutes)" >&2
  .venv/bin/python -m pip install --quiet -e "$target"
  { echo base; if [ -n "$all" ]; then echo "$all" | tr ',' '\n'; fi; } > "$stamp"
fi
